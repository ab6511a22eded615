"""Hub configuration: where specs and clusters live, which clouds exist and what module each uses.
Read once at start (a YAML file plus MCHUB_* environment variables) and passed down as a value."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from reconciler.model.access import Rules
from reconciler.model.limits import DEFAULT_LIMITS, LIMIT_NAMES, MIN_DEPTH, Limits
from reconciler.model.projects import Project, ProjectsError, parse_admins, parse_projects

REPO_ROOT = Path(__file__).resolve().parents[2]
MAGIC_CASTLE_GIT = "git::https://github.com/ComputeCanada/magic_castle.git//openstack?ref={version}"
MAGIC_CASTLE_DNS_GIT = "git::https://github.com/ComputeCanada/magic_castle.git//dns/{provider}?ref={version}"
PUPPET_MAGIC_CASTLE_GIT = "https://github.com/ComputeCanada/puppet-magic_castle.git"
# Peers whose identity header (MCHUB_PROXY_USER_HEADER) is believed, by default: loopback only.
TRUSTED_PROXIES_DEFAULT = ("127.0.0.0/8", "::1/128")


class SettingsError(Exception):
    """A hub setting that cannot be used; names the setting and what it accepts."""


DNS_PROVIDERS = ("cloudflare", "gcloud")
# What each DNS provider's Terraform provider reads from the environment: handed from the hub's own
# environment to Terraform (never read from specs, never written to main.tf).
DNS_ENV: dict[str, tuple[str, ...]] = {
    "cloudflare": (
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_EMAIL",
        "CLOUDFLARE_API_KEY",
        "CLOUDFLARE_API_USER_SERVICE_KEY",
    ),
    "gcloud": (
        "GOOGLE_CREDENTIALS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_KEYFILE_JSON",
        "GCLOUD_KEYFILE_JSON",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "GOOGLE_IMPERSONATE_SERVICE_ACCOUNT",
    ),
}
# Credentials that suffice on their own: any one of these groups, fully set.
_DNS_CREDENTIALS: dict[str, tuple[tuple[str, ...], ...]] = {
    "cloudflare": (("CLOUDFLARE_API_TOKEN",), ("CLOUDFLARE_EMAIL", "CLOUDFLARE_API_KEY")),
    "gcloud": (
        ("GOOGLE_CREDENTIALS",),
        ("GOOGLE_APPLICATION_CREDENTIALS",),
        ("GOOGLE_CLOUD_KEYFILE_JSON",),
        ("GCLOUD_KEYFILE_JSON",),
        ("GOOGLE_OAUTH_ACCESS_TOKEN",),
    ),
}


@dataclass(frozen=True)
class DnsConfig:
    """Magic Castle's optional DNS module for a cloud: records for the cluster's public hosts."""

    provider: str  # one of DNS_PROVIDERS
    project: str | None = None  # gcloud: the Google Cloud project holding the zone
    zone_name: str | None = None  # gcloud: the managed zone's name

    def environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The provider's variables present in `environ`; SettingsError when no credentials are."""
        found = {k: environ[k] for k in DNS_ENV[self.provider] if environ.get(k)}
        groups = _DNS_CREDENTIALS[self.provider]
        if not any(all(k in found for k in group) for group in groups):
            choices = ", or ".join(" and ".join(group) for group in groups)
            raise SettingsError(
                f"dns provider {self.provider} needs credentials in the hub's environment: set {choices}"
            )
        return found


@dataclass(frozen=True)
class CloudConfig:
    """One cloud the hub may build on, named as in clouds.yaml."""

    name: str
    # "bundled" (templates/modules/openstack-vms), "magic_castle:<version>", a local path, or any
    # Terraform module source string.
    module: str = "bundled"
    config_git_url: str = PUPPET_MAGIC_CASTLE_GIT
    config_version: str = "15.6.1"
    domains: tuple[str, ...] = ()
    external_network: str | None = None  # rendered as Magic Castle's os_ext_network
    network: str | None = None  # the internal network (name or id) when the project has several
    subnet: str | None = None  # its IPv4 subnet (id or name); rendered as Magic Castle's subnet_id
    ssh_cidrs: tuple[str, ...] = ("0.0.0.0/0",)  # who may reach the login nodes' SSH and ICMP
    ssh_port: int = 22  # where the readiness check knocks on a login node
    provisioning_timeout: float = 1800.0  # seconds after build_success before "not ready" is an error
    clouds_yaml: Path | None = None
    terraform_cli_config: Path | None = None
    dns: DnsConfig | None = None  # Magic Castle's DNS module (Magic Castle sources only)

    def passthrough_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """Variables of the hub's environment that Terraform needs for this cloud beyond OpenStack's
        (the DNS provider's credentials). Secrets: hand them over as `TerraformEnv.extra`."""
        if self.dns is None:
            return {}
        return self.dns.environment(os.environ if environ is None else environ)


def sandbox_cloud(data_dir: Path, ssh_port: int = 22) -> CloudConfig:
    """The embedded sandbox cloud: bundled module, its own clouds.yaml and provider mirror; its
    login nodes answer SSH on `ssh_port` (22, unless the sandbox could not listen there: its
    `SandboxInfo.ssh_port` says)."""
    return CloudConfig(
        "sandbox",
        domains=("sandbox.localdomain",),
        clouds_yaml=data_dir / "clouds.yaml",
        terraform_cli_config=data_dir / "terraform" / "terraformrc",
        ssh_port=ssh_port,
    )


@dataclass(frozen=True)
class Settings:
    specs_dir: Path = Path("specs")
    clusters_dir: Path = Path("clusters")
    templates_dir: Path = REPO_ROOT / "templates"
    default_cloud: str = "sandbox"
    sandbox_data: Path = Path(".sandbox")
    clouds: Mapping[str, CloudConfig] = field(default_factory=dict)
    terraform: str | None = None  # binary path or name; None = discover
    workers: int = 2
    debounce: float = 0.3
    resync_interval: float = 60.0
    drift_interval: float = 600.0
    drift_remediate: bool = True
    drift_fight_limit: int = 3
    prune: bool = False
    max_removed_fraction: float = 0.5
    runs_kept: int = 50
    terraform_timeout: float = 3600.0
    terraform_grace: float = 60.0
    # Limits on one spec (reconciler.model.limits): a spec over one is invalid, naming the setting.
    max_instance_groups: int = DEFAULT_LIMITS.max_instance_groups
    max_hosts: int = DEFAULT_LIMITS.max_hosts
    max_volumes: int = DEFAULT_LIMITS.max_volumes
    max_nb_users: int = DEFAULT_LIMITS.max_nb_users
    max_name_length: int = DEFAULT_LIMITS.max_name_length
    max_domain_length: int = DEFAULT_LIMITS.max_domain_length
    max_public_key_length: int = DEFAULT_LIMITS.max_public_key_length
    max_hieradata_length: int = DEFAULT_LIMITS.max_hieradata_length
    max_depth: int = DEFAULT_LIMITS.max_depth
    trusted_proxies: tuple[str, ...] = TRUSTED_PROXIES_DEFAULT  # IPs or CIDR networks
    # People and projects (model/projects.py, model/access.py): none = one team, everyone allowed.
    admins: tuple[str, ...] = ()
    projects: Mapping[str, Project] = field(default_factory=dict)
    # The authenticating proxy's headers beyond the user id (MCHUB_PROXY_USER_HEADER); defaults as
    # Shibboleth sets them for MC Hub. Empty: not read.
    proxy_name_header: str = "displayName"
    proxy_given_name_header: str = "givenName"
    proxy_surname_header: str = "surname"
    proxy_mail_header: str = "mail"
    proxy_keys_header: str = "sshPublicKey"
    proxy_groups_header: str = "isMemberOf"
    logout_url: str | None = None  # where Log out sends people after the hub's own logout (the IdP's)
    token_users_file: Path | None = None  # per-user tokens for scripts: YAML {user: token}
    # Beyond one machine (docs/operations.md). With database_url, statuses, runs, approvals and
    # Terraform's state live in PostgreSQL and several hubs share the clusters through leases.
    database_url: str | None = None  # postgresql://user@host:port/db (a password: PGPASSWORD)
    hub_name: str | None = None  # this hub among several (leases, logs); default: host and pid
    lease_ttl: float = 30.0  # seconds a dead hub keeps its clusters before another takes them
    # With specs_remote, specs come from a git remote: each hub keeps a clone in specs_dir, pulls
    # every specs_pull_interval seconds and on POST /hooks/git, and the web form pushes its commits.
    specs_remote: str | None = None  # a git URL (https://, ssh://, git@host:path, file://, a path)
    specs_branch: str = "main"
    specs_pull_interval: float = 15.0
    hook_secret: str | None = None  # the webhook's shared secret (MCHUB_HOOK_SECRET); unset: no webhook

    def __post_init__(self) -> None:
        if "sandbox" not in self.clouds:  # the embedded cloud is always there
            object.__setattr__(self, "clouds", {**self.clouds, "sandbox": sandbox_cloud(self.sandbox_data)})

    def cloud(self, name: str | None) -> CloudConfig:
        key = name or self.default_cloud
        try:
            return self.clouds[key]
        except KeyError:
            raise SettingsError(
                f'cloud "{key}" is not configured; choose one of {", ".join(sorted(self.clouds))}'
            ) from None

    @property
    def limits(self) -> Limits:
        """The spec limits these settings choose: pass them to parse_spec, load_spec, load_yaml."""
        return Limits(**{name: getattr(self, name) for name in LIMIT_NAMES})

    @property
    def rules(self) -> Rules:
        """Who may see and change what (model/access.py)."""
        return Rules(self.admins, tuple(self.projects.values()))

    def cloud_of(self, spec_cloud: str | None, project: str | None) -> str:
        """The cloud entry a spec's cluster runs on: its project's (its allocation) when it names
        a known project, else its own `cloud`, else the default."""
        known = self.projects.get(project) if project else None
        return known.cloud if known is not None else (spec_cloud or self.default_cloud)

    def with_cloud(self, cloud: CloudConfig) -> Settings:
        return replace(self, clouds={**self.clouds, cloud.name: cloud})


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


def trusted_networks(where: str, value: Any) -> tuple[str, ...]:
    """`trusted_proxies`, a cloud's `ssh_cidrs`: a non-empty list (or a comma/space separated
    string) of IP addresses and CIDR networks, checked and written out canonically (`10.0.0.5` ->
    `10.0.0.5/32`)."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items or not all(isinstance(i, str) for i in items):
        raise SettingsError(
            f"{where}: expected a list of IP addresses or networks, e.g. [127.0.0.1, 10.0.0.0/24], "
            f"got {value!r}"
        )
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_network(item.strip())))
        except ValueError as exc:
            raise SettingsError(
                f"{where}: {item!r} is not an IP address or network ({exc}); e.g. 10.0.0.5 or 10.0.0.0/24"
            ) from None
    return tuple(out)


_ENV: dict[str, tuple[str, Callable[[str], Any]]] = {
    "MCHUB_SPECS": ("specs_dir", Path),
    "MCHUB_CLUSTERS": ("clusters_dir", Path),
    "MCHUB_SANDBOX_DATA": ("sandbox_data", Path),
    "MCHUB_TEMPLATES": ("templates_dir", Path),
    "MCHUB_DEFAULT_CLOUD": ("default_cloud", str),
    "MCHUB_TERRAFORM": ("terraform", str),
    "MCHUB_WORKERS": ("workers", int),
    "MCHUB_PRUNE": ("prune", _flag),
    "MCHUB_TRUSTED_PROXIES": ("trusted_proxies", lambda v: trusted_networks("MCHUB_TRUSTED_PROXIES", v)),
    "MCHUB_DATABASE_URL": ("database_url", str),
    "MCHUB_HUB_NAME": ("hub_name", str),
    "MCHUB_LEASE_TTL": ("lease_ttl", float),
    "MCHUB_SPECS_REMOTE": ("specs_remote", str),
    "MCHUB_SPECS_BRANCH": ("specs_branch", str),
    "MCHUB_SPECS_PULL_INTERVAL": ("specs_pull_interval", float),
    "MCHUB_HOOK_SECRET": ("hook_secret", str),
}

DATABASE_SCHEMES = ("postgresql://", "postgres://")


def _typed(where: str, value: Any, default: Any) -> Any:
    """A YAML value checked against the kind of its setting's default (paths and names are text)."""
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, want = isinstance(value, int | float) and not isinstance(value, bool), "a number"
        value = float(value) if ok else value
    else:  # str, Path, or None (an optional path or name)
        ok, want = isinstance(value, str) or (value is None and default is None), "a string"
    if not ok:
        raise SettingsError(f"{where}: expected {want}, got {value!r}")
    return value


def _dns_from(where: str, data: Any) -> DnsConfig | None:
    if data is None:
        return None
    if isinstance(data, str):  # `dns: cloudflare` is short for `dns: {provider: cloudflare}`
        data = {"provider": data}
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: expected a provider name or a mapping with provider")
    known = {"provider", "project", "zone_name"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"{where}: unknown setting {unknown[0]}; choose among {sorted(known)}")
    provider = data.get("provider")
    if provider not in DNS_PROVIDERS:
        raise SettingsError(
            f"{where}.provider: {provider!r} is not a DNS provider; choose one of {', '.join(DNS_PROVIDERS)}"
        )
    values: dict[str, str] = {}
    for key in ("project", "zone_name"):
        value = data.get(key)
        if provider == "gcloud" and (not isinstance(value, str) or not value):
            raise SettingsError(f"{where}.{key}: required for the gcloud DNS provider (a non-empty string)")
        if provider != "gcloud" and value is not None:
            raise SettingsError(f"{where}.{key}: only the gcloud DNS provider takes {key}")
        if value is not None:
            values[key] = str(value)
    return DnsConfig(provider=provider, **values)


def _cloud_from(name: str, data: Any) -> CloudConfig:
    if not isinstance(data, dict):
        raise SettingsError(f"clouds.{name}: expected a mapping of cloud settings")
    known = set(CloudConfig.__dataclass_fields__) - {"name"}
    unknown = set(data) - known
    if unknown:
        raise SettingsError(
            f"clouds.{name}: unknown setting {sorted(unknown)[0]}; choose among {sorted(known)}"
        )
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in ("dns", "domains", "ssh_cidrs"):
            values[key] = _typed(f"clouds.{name}.{key}", value, CloudConfig.__dataclass_fields__[key].default)
    for key in ("clouds_yaml", "terraform_cli_config"):
        if values.get(key):
            values[key] = Path(values[key]).expanduser()
    domains = data.get("domains", [])
    if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
        raise SettingsError(f"clouds.{name}.domains: expected a list of domain names, got {domains!r}")
    values["domains"] = tuple(domains)
    if "ssh_cidrs" in data:
        values["ssh_cidrs"] = trusted_networks(f"clouds.{name}.ssh_cidrs", data["ssh_cidrs"])
    if not 1 <= values.get("ssh_port", 22) <= 65535:
        raise SettingsError(f"clouds.{name}.ssh_port: a TCP port, 1 to 65535, got {values['ssh_port']}")
    if values.get("provisioning_timeout", 1.0) <= 0:
        raise SettingsError(f"clouds.{name}.provisioning_timeout: seconds, more than 0")
    module = str(values.get("module", "bundled"))
    if module.startswith("magic_castle:"):
        if not module.split(":", 1)[1].strip():
            raise SettingsError(
                f"clouds.{name}.module: name a Magic Castle release, e.g. magic_castle:15.6.1"
            )
        url = values.get("config_git_url", PUPPET_MAGIC_CASTLE_GIT)
        if not re.fullmatch(r"^https://.*\.git$", url):
            raise SettingsError(f"clouds.{name}.config_git_url: {url!r} must match ^https://.*\\.git$")
        if not values.get("config_version", "x"):
            raise SettingsError(f"clouds.{name}.config_version: a tag, branch or commit is required")
    if "dns" in data:
        values["dns"] = _dns_from(f"clouds.{name}.dns", data["dns"])
        if values["dns"] is not None and not module.startswith("magic_castle:"):
            raise SettingsError(
                f"clouds.{name}.dns: Magic Castle's DNS module needs module: magic_castle:<version> "
                f"(this cloud uses {module!r})"
            )
    return CloudConfig(name=name, **values)


def _check_limits(limits: Limits) -> None:
    for name in LIMIT_NAMES:
        least = 0 if name == "max_nb_users" else 1  # 0: no guest accounts on this hub
        if getattr(limits, name) < least:
            raise SettingsError(f"{name} must be at least {least}, got {getattr(limits, name)}")
    if limits.max_depth < MIN_DEPTH:
        raise SettingsError(
            f"max_depth must be at least {MIN_DEPTH} (a spec with volumes nests {MIN_DEPTH} levels deep), "
            f"got {limits.max_depth}"
        )


def _check_beyond_one_machine(settings: Settings) -> None:
    url = settings.database_url
    if url is not None and not url.startswith(DATABASE_SCHEMES):
        raise SettingsError(
            "database_url: expected a PostgreSQL URL, postgresql://user@host:5432/dbname "
            "(the password in PGPASSWORD, not the URL)"
        )
    if settings.lease_ttl < 3:
        raise SettingsError(f"lease_ttl: at least 3 seconds, got {settings.lease_ttl:g}")
    if settings.specs_pull_interval <= 0:
        raise SettingsError("specs_pull_interval: seconds, more than 0")
    branch = settings.specs_branch
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}", branch) or ".." in branch:
        raise SettingsError(f"specs_branch: {branch!r} is not a branch name (letters, digits, . _ / -)")
    if settings.hook_secret is not None and len(settings.hook_secret) < 16:
        raise SettingsError("hook_secret: at least 16 characters (the webhook's shared secret)")


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from an optional YAML file, then MCHUB_* variables (which win)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = path or (Path(env["MCHUB_SETTINGS"]) if env.get("MCHUB_SETTINGS") else None)
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"settings file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError(f"settings file {path}: expected a mapping of settings")
        fields = Settings.__dataclass_fields__
        for key, value in data.items():
            if key not in fields:
                raise SettingsError(f"{path}: unknown setting {key}; choose among {sorted(fields)}")
            if key == "trusted_proxies":
                values[key] = trusted_networks(key, value)
                continue
            if key in ("admins", "projects"):
                continue  # after clouds: a project names one of them
            values[key] = value if key == "clouds" else _typed(key, value, fields[key].default)
        if "clouds" in values:
            clouds = values["clouds"] or {}
            if not isinstance(clouds, dict):
                raise SettingsError("clouds: expected a mapping of cloud name -> cloud settings")
            values["clouds"] = {str(n): _cloud_from(str(n), c) for n, c in clouds.items()}
        for key in ("specs_dir", "clusters_dir", "templates_dir", "sandbox_data", "token_users_file"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        try:
            values["admins"] = parse_admins(data.get("admins"))
            clouds = {*values.get("clouds", {}), "sandbox"}
            values["projects"] = parse_projects(data.get("projects"), clouds)
        except ProjectsError as exc:
            raise SettingsError(str(exc)) from None
    for var, (key, conv) in _ENV.items():
        if env.get(var):
            try:
                values[key] = conv(env[var])
            except ValueError:
                raise SettingsError(f"{var}={env[var]!r} is not a valid {key}") from None
    settings = Settings(**values)
    if settings.workers < 1:
        raise SettingsError("workers must be at least 1")
    _check_beyond_one_machine(settings)
    _check_limits(settings.limits)
    return settings
