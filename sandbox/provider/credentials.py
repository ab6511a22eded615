"""Where the stand-in OpenStack provider finds its credentials, in the real provider's order:
provider block attributes, else `cloud`/OS_CLOUD with clouds.yaml (+ secure.yaml), else OS_* variables.

Pure apart from reading the clouds files; `client.py` turns the result into a Keystone request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# Provider block attribute -> OS_* variables the real provider reads for it (first set wins).
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "auth_url": ("OS_AUTH_URL",),
    "region": ("OS_REGION_NAME",),
    "user_name": ("OS_USERNAME",),
    "user_id": ("OS_USER_ID",),
    "password": ("OS_PASSWORD",),
    "token": ("OS_TOKEN", "OS_AUTH_TOKEN"),
    "tenant_name": ("OS_TENANT_NAME", "OS_PROJECT_NAME"),
    "tenant_id": ("OS_TENANT_ID", "OS_PROJECT_ID"),
    "user_domain_name": ("OS_USER_DOMAIN_NAME",),
    "user_domain_id": ("OS_USER_DOMAIN_ID",),
    "project_domain_name": ("OS_PROJECT_DOMAIN_NAME",),
    "project_domain_id": ("OS_PROJECT_DOMAIN_ID",),
    "domain_name": ("OS_DOMAIN_NAME",),
    "domain_id": ("OS_DOMAIN_ID",),
    "default_domain": ("OS_DEFAULT_DOMAIN",),
    "application_credential_id": ("OS_APPLICATION_CREDENTIAL_ID",),
    "application_credential_name": ("OS_APPLICATION_CREDENTIAL_NAME",),
    "application_credential_secret": ("OS_APPLICATION_CREDENTIAL_SECRET",),
    "endpoint_type": ("OS_ENDPOINT_TYPE", "OS_INTERFACE"),
    "cacert_file": ("OS_CACERT",),
    "insecure": ("OS_INSECURE",),
}

# clouds.yaml `auth:` key (or top-level key) -> provider block attribute.
CLOUDS_AUTH_KEYS = {
    "auth_url": "auth_url", "username": "user_name", "user_id": "user_id", "password": "password",
    "token": "token", "project_name": "tenant_name", "tenant_name": "tenant_name",
    "project_id": "tenant_id", "tenant_id": "tenant_id", "user_domain_name": "user_domain_name",
    "user_domain_id": "user_domain_id", "project_domain_name": "project_domain_name",
    "project_domain_id": "project_domain_id", "domain_name": "domain_name", "domain_id": "domain_id",
    "application_credential_id": "application_credential_id",
    "application_credential_name": "application_credential_name",
    "application_credential_secret": "application_credential_secret",
}
CLOUDS_TOP_KEYS = {"region_name": "region", "interface": "endpoint_type", "cacert": "cacert_file"}


class CredentialsError(Exception):
    """The provider cannot tell which cloud to talk to, or how to log in."""


@dataclass(frozen=True)
class Credentials:
    """What Keystone needs, with the real provider's attribute names."""

    auth_url: str
    user_name: str | None = None
    user_id: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    tenant_name: str | None = None
    tenant_id: str | None = None
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    domain_name: str | None = None
    domain_id: str | None = None
    default_domain: str | None = None
    application_credential_id: str | None = None
    application_credential_name: str | None = None
    application_credential_secret: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_type: str = "public"
    cacert_file: str | None = None
    insecure: bool = False

    def token_request(self) -> dict[str, Any]:
        """The body of `POST /v3/auth/tokens` for these credentials."""
        secret = self.application_credential_secret
        if secret and (self.application_credential_id or self.application_credential_name):
            cred: dict[str, Any] = {"secret": secret}
            if self.application_credential_id:
                cred["id"] = self.application_credential_id
            else:
                cred["name"] = self.application_credential_name
                cred["user"] = self._user()
            return {"auth": {"identity": {"methods": ["application_credential"],
                                          "application_credential": cred}}}
        if self.token:
            identity: dict[str, Any] = {"methods": ["token"], "token": {"id": self.token}}
        else:
            user = {**self._user(), "password": self.password}
            identity = {"methods": ["password"], "password": {"user": user}}
        auth: dict[str, Any] = {"identity": identity}
        scope = self._scope()
        if scope:
            auth["scope"] = scope
        return {"auth": auth}

    def _domain(self, name: str | None, ident: str | None) -> dict[str, str]:
        if ident:
            return {"id": ident}
        if name:
            return {"name": name}
        if self.domain_id:
            return {"id": self.domain_id}
        if self.domain_name:
            return {"name": self.domain_name}
        return {"id": self.default_domain} if self.default_domain else {"name": "Default"}

    def _user(self) -> dict[str, Any]:
        if self.user_id:
            return {"id": self.user_id}
        return {"name": self.user_name, "domain": self._domain(self.user_domain_name, self.user_domain_id)}

    def _scope(self) -> dict[str, Any] | None:
        if self.tenant_id:
            return {"project": {"id": self.tenant_id}}
        if self.tenant_name:
            domain = self._domain(self.project_domain_name, self.project_domain_id)
            return {"project": {"name": self.tenant_name, "domain": domain}}
        if self.domain_id or self.domain_name:
            return {"domain": self._domain(None, None)}
        return None


def resolve(block: Mapping[str, Any], environ: Mapping[str, str] | None = None,
            cwd: Path | None = None) -> Credentials:
    """Merge the provider block with clouds.yaml or the environment into Credentials."""
    environ = os.environ if environ is None else environ
    explicit = {k: v for k, v in block.items() if v not in (None, "") and k != "cloud"}
    cloud = block.get("cloud") or environ.get("OS_CLOUD")
    if cloud:
        base = _from_clouds_yaml(str(cloud), environ, cwd or Path.cwd())
    else:
        base = {}
        for name, variables in ENVIRONMENT.items():
            value = next((environ[v] for v in variables if environ.get(v)), None)
            if value is not None:
                base[name] = value
    merged: dict[str, Any] = {**base, **explicit}
    if not merged.get("auth_url"):
        raise CredentialsError(
            "No OpenStack credentials: set the provider's `cloud` (or OS_CLOUD with a clouds.yaml), "
            "or `auth_url` (or OS_AUTH_URL and the other OS_* variables)")
    known = {f.name for f in fields(Credentials)}
    values = {k: v for k, v in merged.items() if k in known}
    values["insecure"] = _truthy(values.get("insecure", False))
    values["endpoint_type"] = _interface(values.get("endpoint_type"))
    return Credentials(**values)


def _truthy(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


def _interface(value: Any) -> str:
    text = str(value or "public").lower()
    return text[: -len("url")] if text.endswith("url") else text  # "publicURL" -> "public"


def clouds_files(name: str, environ: Mapping[str, str], cwd: Path) -> list[Path]:
    """openstacksdk's search order for clouds.yaml / secure.yaml."""
    override = environ.get("OS_CLIENT_CONFIG_FILE" if name == "clouds" else "OS_CLIENT_SECURE_FILE")
    candidates = [Path(override)] if override else []
    home = Path(environ.get("HOME") or Path.home())
    for folder in (cwd, home / ".config" / "openstack", Path("/etc/openstack")):
        candidates += [folder / f"{name}.yaml", folder / f"{name}.yml"]
    return [path for path in candidates if path.is_file()]


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml  # only when a clouds file is used: keeps the provider's start light

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CredentialsError(f"Cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _from_clouds_yaml(cloud: str, environ: Mapping[str, str], cwd: Path) -> dict[str, Any]:
    files = clouds_files("clouds", environ, cwd)
    if not files:
        raise CredentialsError(f"Cloud {cloud!r} requested but no clouds.yaml found "
                               "(OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml)")
    clouds = _load_yaml(files[0]).get("clouds") or {}
    if cloud not in clouds:
        raise CredentialsError(f"Cloud {cloud!r} not found in {files[0]}; "
                               f"choose one of {', '.join(sorted(clouds)) or '(none)'}")
    entry: dict[str, Any] = dict(clouds[cloud])
    for secure in clouds_files("secure", environ, cwd)[:1]:
        entry = _deep_merge(entry, (_load_yaml(secure).get("clouds") or {}).get(cloud) or {})
    out: dict[str, Any] = {}
    for key, value in (entry.get("auth") or {}).items():
        if key in CLOUDS_AUTH_KEYS and value not in (None, ""):
            out[CLOUDS_AUTH_KEYS[key]] = value
    for key, attr in CLOUDS_TOP_KEYS.items():
        if entry.get(key):
            out[attr] = entry[key]
    if entry.get("verify") is False:
        out["insecure"] = True
    return out
