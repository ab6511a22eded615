"""Fault knobs for reliability tests: latency, per-service error rates, boot delay, login delay
(how long after boot a login node answers SSH: sandbox/cloud/login.py) and forced quota limits.
Set at start (arguments, MCHUB_SANDBOX_* variables) or at run time (/_sandbox/faults)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.cloud.web import SERVICES

QUOTA_NAMES = (
    "instances", "cores", "ram", "key_pairs", "volumes", "gigabytes", "snapshots",
    "floatingip", "port", "network", "subnet", "router", "security_group", "security_group_rule",
)


class FaultError(ValueError):
    """A bad fault setting, named by its field path."""


@dataclass
class Faults:
    """Mutable on purpose: the admin API and tests change it while the server runs."""

    latency: float = 0.0  # seconds added to every cloud request
    error_rate: dict[str, float] = field(default_factory=dict)  # service -> probability of a 503
    boot_delay: float = 1.0  # seconds a new server stays in BUILD
    login_delay: float = 3.0  # seconds after ACTIVE before a login node's floating IP answers SSH
    quota: dict[str, int] = field(default_factory=dict)  # resource -> forced limit (-1 = unlimited)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Faults:
        env = os.environ if environ is None else environ
        faults = cls()
        faults.update({
            key: value for key, value in {
                "latency": env.get("MCHUB_SANDBOX_LATENCY"),
                "error_rate": env.get("MCHUB_SANDBOX_ERROR_RATE"),
                "boot_delay": env.get("MCHUB_SANDBOX_BOOT_DELAY"),
                "login_delay": env.get("MCHUB_SANDBOX_LOGIN_DELAY"),
                "quota": env.get("MCHUB_SANDBOX_QUOTA"),
            }.items() if value not in (None, "")
        })
        return faults

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial change (all-or-nothing). Maps may also be given as `a=1,b=2` strings."""
        unknown = sorted(set(changes) - {"latency", "error_rate", "boot_delay", "login_delay", "quota"})
        if unknown:
            raise FaultError(f"{unknown[0]}: unknown fault; "
                             f"choose among latency, error_rate, boot_delay, login_delay, quota")
        latency = _seconds("latency", changes.get("latency", self.latency))
        boot_delay = _seconds("boot_delay", changes.get("boot_delay", self.boot_delay))
        login_delay = _seconds("login_delay", changes.get("login_delay", self.login_delay))
        rates = {k: _rate(f"error_rate.{k}", v) for k, v in _mapping("error_rate", changes.get(
            "error_rate", self.error_rate)).items()}
        for name in rates:
            if name not in SERVICES:
                raise FaultError(f"error_rate.{name}: unknown service; choose among {', '.join(SERVICES)}")
        quota = {k: _limit(f"quota.{k}", v) for k, v in _mapping("quota", changes.get(
            "quota", self.quota)).items()}
        for name in quota:
            if name not in QUOTA_NAMES:
                raise FaultError(f"quota.{name}: unknown quota; choose among {', '.join(QUOTA_NAMES)}")
        self.latency, self.boot_delay, self.error_rate, self.quota = latency, boot_delay, rates, quota
        self.login_delay = login_delay

    def to_dict(self) -> dict[str, Any]:
        return {"latency": self.latency, "error_rate": dict(self.error_rate),
                "boot_delay": self.boot_delay, "login_delay": self.login_delay, "quota": dict(self.quota)}


def _mapping(path: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        pairs: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            key, sep, raw = item.partition("=")
            if not sep:
                raise FaultError(f"{path}: expected name=value pairs separated by commas, got {item!r}")
            pairs[key.strip()] = raw.strip()
        return pairs
    if isinstance(value, Mapping):
        return dict(value)
    raise FaultError(f"{path}: expected a mapping or 'name=value,...', got {value!r}")


def _number(path: str, value: Any) -> float:
    if isinstance(value, bool):
        raise FaultError(f"{path}: expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise FaultError(f"{path}: expected a number, got {value!r}") from exc


def _seconds(path: str, value: Any) -> float:
    number = _number(path, value)
    if number < 0:
        raise FaultError(f"{path}: must be >= 0 seconds, got {value!r}")
    return number


def _rate(path: str, value: Any) -> float:
    number = _number(path, value)
    if not 0 <= number <= 1:
        raise FaultError(f"{path}: must be a probability between 0 and 1, got {value!r}")
    return number


def _limit(path: str, value: Any) -> int:
    number = _number(path, value)
    if number != int(number) or number < -1:
        raise FaultError(f"{path}: must be an integer >= -1 (-1 = unlimited), got {value!r}")
    return int(number)
