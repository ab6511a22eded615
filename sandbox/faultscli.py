"""`mchub sandbox faults` and `mchub sandbox reset`: change a running sandbox through its admin API
(/_sandbox/faults, /_sandbox/reset in sandbox/cloud/app.py), so that a demonstration or a test by
hand needs neither curl nor the password. The sandbox is found through its data dir: the URL in
its clouds.yaml and its user's password in credentials.json (Basic auth, as the admin API wants)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from sandbox.cloud import scenarios as seed_scenarios
from sandbox.cloud.faults import QUOTA_NAMES, Faults
from sandbox.cloud.web import SERVICES

COMMANDS = ("faults", "reset")
DEFAULT_URL = "http://127.0.0.1:8999"
TIMEOUT = 10.0
DEFAULTS: dict[str, Any] = Faults().to_dict()  # what `clear` puts back
KNOBS: dict[str, str] = {  # name -> what it simulates, in the order people meet them
    "latency": "seconds added to every API request (a slow or distant cloud)",
    "error_rate": "share of requests per service answered 503 (a service that is down or flaky)",
    "boot_delay": "seconds a new server stays in BUILD (slow scheduling and boot)",
    "login_delay": "seconds after ACTIVE before a login node's floating IP answers SSH",
    "quota": "forced quota limits; the seed's limits otherwise (quota exhaustion)",
}
MAPS = {"error_rate": SERVICES, "quota": QUOTA_NAMES}  # knobs whose value is name:value pairs
EXAMPLE = "set latency=0.5 error_rate=compute:0.3 quota=cores:8 boot_delay=2 login_delay=5"


class AdminError(Exception):
    """Something a person can fix: a knob misspelt, no sandbox running, the wrong data dir."""


@dataclass(frozen=True)
class AdminApi:
    """The admin API of one running sandbox, as its own user."""

    url: str
    where: str  # how the URL was found, for the error a person reads when nothing answers there
    user: str
    password: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            reply = httpx.request(
                method, f"{self.url}{path}", json=body, auth=(self.user, self.password), timeout=TIMEOUT
            )
        except httpx.TransportError as exc:
            what = (
                f"did not answer within {TIMEOUT:g} s"
                if isinstance(exc, httpx.TimeoutException)
                else "is not running"
            )
            raise AdminError(
                f"the sandbox at {self.url} ({self.where}) {what}; start it with `mchub sandbox` "
                "(or `mchub serve --sandbox`), or give its --data DIR or --url"
            ) from None
        if reply.status_code == 401:
            raise AdminError(
                f"the sandbox at {self.url} refused the credentials of the data dir given; "
                "it runs from another data dir: give that one with --data"
            )
        if reply.status_code == 422:
            raise AdminError(str(reply.json().get("error", {}).get("message", reply.text)))
        if reply.status_code != 200 or not reply.headers.get("content-type", "").startswith(
            "application/json"
        ):
            raise AdminError(f"{self.url} answered {reply.status_code} on {path}: is it a sandbox cloud?")
        result: dict[str, Any] = reply.json()
        return result


def locate(data: Path, url: str | None) -> AdminApi:
    """The sandbox of a data dir: its URL (`--url`, else its clouds.yaml, else the default port)
    and its user's credentials."""
    cred_path = data / "credentials.json"
    try:
        creds = json.loads(cred_path.read_text())
    except FileNotFoundError:
        raise AdminError(
            f"{cred_path} not found: no sandbox has run from {data}; start one with "
            "`mchub sandbox --data DIR`, or give its data dir with --data"
        ) from None
    except (OSError, ValueError) as exc:
        raise AdminError(f"{cred_path}: cannot be read ({exc})") from None
    where = "--url"
    if url is None:
        url, where = _url_of(data)
    return AdminApi(url.rstrip("/"), where, str(creds.get("username", "")), str(creds.get("password", "")))


def _url_of(data: Path) -> tuple[str, str]:
    """The URL the sandbox wrote in its clouds.yaml when it last started (its port may be random)."""
    path = data / "clouds.yaml"
    try:
        auth_url = yaml.safe_load(path.read_text())["clouds"]["sandbox"]["auth"]["auth_url"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_URL, "the default URL"
    return str(auth_url).removesuffix("/identity/v3"), f"its URL in {path}, where it last started"


def parse_set(items: list[str], current: dict[str, Any]) -> dict[str, Any]:
    """`knob=value` words as a change to PUT. A map knob (`error_rate=compute:0.3,network:1`)
    changes the names it gives and keeps the others; a rate of 0 removes that service's errors."""
    if not items:
        raise AdminError(f"set: give at least one knob=value, e.g. `{EXAMPLE}`")
    changes: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        knob = _knob(name)
        if not sep or not value.strip():
            raise AdminError(f"{knob}: give a value, as in {knob}={_example(knob)}")
        if knob not in MAPS:
            changes[knob] = value.strip()
            continue
        merged = dict(changes.get(knob, current.get(knob, {})))
        for key, raw in _pairs(knob, value):
            merged[key] = raw
            if knob == "error_rate" and _is_zero(raw):
                del merged[key]
        changes[knob] = merged
    return changes


def parse_clear(items: list[str]) -> dict[str, set[str] | None]:
    """What `clear` names: a whole knob (None) or parts of a map knob (`error_rate.compute`);
    nothing named is every knob."""
    cleared: dict[str, set[str] | None] = {}
    for item in items or list(KNOBS):
        name, dot, key = item.partition(".")
        knob = _knob(name)
        if dot and knob not in MAPS:
            raise AdminError(
                f"{item}: only error_rate and quota have parts (error_rate.compute, quota.cores)"
            )
        if not dot or cleared.get(knob, set()) is None:
            cleared[knob] = None
        else:
            cleared[knob] = {*(cleared.get(knob) or set()), key}
    return cleared


def apply_clear(cleared: dict[str, set[str] | None], current: dict[str, Any]) -> dict[str, Any]:
    """The change to PUT: a whole knob back to its default, or a map without the parts named."""
    changes = {}
    for knob, keys in cleared.items():
        if keys is None:
            changes[knob] = DEFAULTS[knob]
            continue
        now = dict(current.get(knob) or {})
        missing = sorted(keys - set(now))
        if missing:
            raise AdminError(f"{knob}.{missing[0]}: not set (set now: {', '.join(now) or 'none'})")
        changes[knob] = {k: v for k, v in now.items() if k not in keys}
    return changes


def _knob(name: str) -> str:
    knob = name.strip().replace("-", "_")
    if knob not in KNOBS:
        raise AdminError(f"{name.strip() or '(empty)'}: unknown fault knob; choose among {', '.join(KNOBS)}")
    return knob


def _pairs(knob: str, value: str) -> list[tuple[str, str]]:
    pairs = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        key, sep, raw = part.replace("=", ":", 1).partition(":")
        if not sep or not key.strip() or not raw.strip():
            raise AdminError(
                f"{knob}: expected name:value pairs separated by commas, as in "
                f"{knob}={_example(knob)}; names: {', '.join(MAPS[knob])}"
            )
        pairs.append((key.strip(), raw.strip()))
    return pairs


def _is_zero(raw: str) -> bool:
    try:
        return float(raw) == 0
    except ValueError:
        return False  # the sandbox names the bad value


def _example(knob: str) -> str:
    return {
        "latency": "0.5",
        "error_rate": "compute:0.3",
        "boot_delay": "2",
        "login_delay": "5",
        "quota": "cores:8",
    }[knob]


def describe(api: AdminApi, faults: dict[str, Any]) -> str:
    """The knobs in words, one a line, with what each simulates."""
    changed = [knob for knob in KNOBS if faults.get(knob) != DEFAULTS[knob]]
    lines = [
        f"Sandbox cloud at {api.url}: "
        + (f"faults set: {', '.join(changed)}" if changed else "no faults (every knob at its default)")
    ]
    for knob, meaning in KNOBS.items():
        value = faults.get(knob)
        if isinstance(value, dict):
            shown = ", ".join(f"{k}:{_number(v)}" for k, v in value.items()) or "none"
        else:
            shown = f"{_number(value)} s"
        lines.append(f"  {knob:<12} {shown:<16} {meaning}")
    return "\n".join(lines)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def build_parser(command: str, prog: str) -> argparse.ArgumentParser:
    data_default = os.environ.get("MCHUB_SANDBOX_DATA") or ".sandbox"
    if command == "faults":
        parser = argparse.ArgumentParser(
            prog=prog,
            description="Show, set or clear a running sandbox's fault knobs.",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog="knobs:\n"
            + "\n".join(f"  {k:<12} {v}" for k, v in KNOBS.items())
            + f"\n\nexamples:\n  {prog}\n  {prog} {EXAMPLE}\n  {prog} clear quota error_rate.compute"
            + f"\n  {prog} clear\n\nservices: {', '.join(SERVICES)}\nquotas: {', '.join(QUOTA_NAMES)}",
        )
        parser.add_argument(
            "words",
            nargs="*",
            metavar="ACTION",
            help="show (the default), set KNOB=VALUE..., or clear [KNOB | KNOB.NAME ...] (none: all)",
        )
        parser.add_argument("--json", action="store_true", help="print the knobs as JSON")
    else:
        parser = argparse.ArgumentParser(
            prog=prog,
            description="Start a running sandbox afresh from its seed: every server, volume, "
            "network and key pair made since is gone (the hub's clusters on it with them).",
        )
        parser.add_argument(
            "--scenario",
            default="",
            metavar="NAME,...",
            help="change the seed first: " + ", ".join(seed_scenarios.SCENARIOS),
        )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(data_default),
        metavar="DIR",
        help=f"the sandbox's data dir: credentials and URL (MCHUB_SANDBOX_DATA; default {data_default})",
    )
    parser.add_argument("--url", default=None, help="the sandbox's URL (default: from DIR/clouds.yaml)")
    return parser


def faults(args: argparse.Namespace) -> int:
    action, items = (args.words[0], args.words[1:]) if args.words else ("show", [])
    if action not in ("show", "set", "clear"):
        hint = f"; did you mean `set {' '.join(args.words)}`?" if "=" in action else ""
        raise AdminError(f"{action}: unknown action; choose among show, set, clear{hint}")
    if action == "show" and items:
        raise AdminError("show takes no knobs; to change them: set KNOB=VALUE...")
    cleared = parse_clear(items) if action == "clear" else {}
    if action == "set":
        parse_set(items, {})  # a misspelt knob is named before the sandbox is looked for
    api = locate(args.data, args.url)
    current = api.call("GET", "/_sandbox/faults")
    if action == "set":
        current = api.call("PUT", "/_sandbox/faults", parse_set(items, current))
    elif action == "clear":
        current = api.call("PUT", "/_sandbox/faults", apply_clear(cleared, current))
    print(json.dumps(current, indent=2) if args.json else describe(api, current))
    return 0


def reset(args: argparse.Namespace) -> int:
    try:
        chosen = seed_scenarios.names(args.scenario)
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    api = locate(args.data, args.url)
    summary = api.call("POST", "/_sandbox/reset", {"scenarios": chosen})
    counts = summary.get("counts", {})
    print(
        f"Sandbox cloud at {api.url} started afresh from its seed"
        + (f" with {', '.join(chosen)}" if chosen else "")
        + ": "
        + ", ".join(f"{counts.get(t, 0)} {t}" for t in ("flavors", "images", "networks", "routers"))
        + ", no servers or volumes."
    )
    return 0


def main(command: str, argv: list[str], prog: str) -> int:
    """Run `faults` or `reset` with its own arguments; a mistake is one line on stderr, exit 2."""
    parser = build_parser(command, prog)
    args = parser.parse_intermixed_args(argv)
    try:
        return faults(args) if command == "faults" else reset(args)
    except AdminError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
