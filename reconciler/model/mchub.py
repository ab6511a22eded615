"""Moving over from MC Hub, the mapping half: an MC Hub cluster folder's `main.tf.json` and
`terraform.tfstate` (already parsed) -> a spec, the guest password for the secret store, and the
module the state was made with. Pure: no disk. `reconciler.entry.importer` reads and writes.

MC Hub wrote one `module.openstack` call (plus Magic Castle's `dns` module when the domain had a DNS
provider) whose variables are Magic Castle's, the same names a spec uses. Anything the hub could
not render back the same way is refused, naming the file and field: the point of an import is
that the hub's next plan, on the same Magic Castle release, changes nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.model.limits import DEFAULT_LIMITS, Limits
from reconciler.model.settings import CloudConfig
from reconciler.model.spec import ClusterSpec, SpecError, parse_spec

MAIN = "main.tf.json"
STATE = "terraform.tfstate"
_MC_GIT = re.compile(
    r"^git::https://github\.com/ComputeCanada/magic_castle\.git//(?P<provider>[a-z]+)\?ref=(?P<ref>[^&\s]+)$"
)
_DNS_GIT = re.compile(
    r"^git::https://github\.com/ComputeCanada/magic_castle\.git//dns/(?P<provider>[a-z]+)\?ref=(?P<ref>[^&\s]+)$"
)
# Variables a spec holds, by Magic Castle's (and so MC Hub's) names.
SPEC_VARIABLES = (
    "cluster_name", "domain", "image", "nb_users", "instances", "volumes", "public_keys", "hieradata",
    "sudoer_username",
)  # fmt: skip
# What the hub's main.tf sets from the cloud's settings: checked against them, not copied.
CLOUD_VARIABLES = ("source", "config_git_url", "config_version", "os_ext_network", "subnet_id")
# MC Hub wrote these into every file although Magic Castle 14 and later do not declare them (MC Hub
# itself dropped them when reading a file back): nothing to keep. Before 14 they changed the plan.
IGNORED_FROM_14 = ("generate_ssh_key", "puppetenv_rev")
DNS_IGNORED_FROM_14 = ("ssh_private_key", "sudoer_username")
DNS_FROM_OPENSTACK = {
    "name": "${module.openstack.cluster_name}",
    "domain": "${module.openstack.domain}",
    "public_instances": "${module.openstack.public_instances}",
}
PROVIDERS = ("openstack",)
# Resources the hub's main.tf names a cluster's own: each carries `<cluster_name>-` in its name.
NAMED_TYPES = (
    "openstack_compute_instance_v2",
    "openstack_blockstorage_volume_v3",
    "openstack_compute_keypair_v2",
)


class Refused(Exception):
    """What keeps a folder from being imported: each problem names the file and the field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class ModuleRef:
    """The module a cluster was built with: a Magic Castle release, a local folder, or any source."""

    source: str
    release: str | None = None  # a Magic Castle release, from `?ref=`
    path: Path | None = None  # a local folder, resolved from the MC Hub folder

    def major(self) -> int | None:
        found = re.match(r"^v?(\d+)", self.release or "")
        return int(found.group(1)) if found else None


@dataclass(frozen=True)
class Imported:
    """What an MC Hub `main.tf.json` says, as the hub keeps it."""

    spec: ClusterSpec  # without the guest password: that goes to the secret store
    guest_passwd: str
    module: ModuleRef
    cloud_values: dict[str, str]  # config_git_url, config_version, os_ext_network, subnet_id given
    dns: dict[str, Any] | None  # the dns module call, when there was one


def _where(field: str) -> str:
    return f"{MAIN}: {field}"


def module_ref(source: Any, folder: Path) -> ModuleRef:
    """The module behind `source`; a local path is read from the MC Hub `folder`."""
    if not isinstance(source, str) or not source:
        raise Refused([f"{_where('module.openstack.source')}: missing; MC Hub always writes it"])
    found = _MC_GIT.fullmatch(source)
    if found:
        if found["provider"] not in PROVIDERS:
            raise Refused([_other_provider("module.openstack.source", found["provider"])])
        return ModuleRef(source, release=found["ref"])
    if source.startswith(("/", "./", "../")):
        return ModuleRef(source, path=(folder / source).resolve())
    return ModuleRef(source)


def _other_provider(field: str, provider: str) -> str:
    return (
        f"{_where(field)}: the cluster was built on {provider}; the hub builds on OpenStack only "
        f"(choose among {', '.join(PROVIDERS)})"
    )


def _the_module(main: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The `openstack` module call and the `dns` one (or None); refuses any other layout."""
    if not isinstance(main, dict) or not isinstance(main.get("module"), dict):
        raise Refused([f"{_where('module')}: missing; an MC Hub main.tf.json holds one module call"])
    unknown = sorted(set(main) - {"terraform", "module"})
    if unknown:
        raise Refused([f"{_where(unknown[0])}: unknown block; MC Hub writes only terraform and module"])
    modules = dict(main["module"])
    dns = modules.pop("dns", None)
    if len(modules) != 1:
        names = ", ".join(sorted(modules)) or "none"
        raise Refused(
            [f"{_where('module')}: expected one cluster module (openstack) beside dns, found {names}"]
        )
    ((name, call),) = modules.items()
    if name not in PROVIDERS:
        raise Refused([_other_provider(f"module.{name}", name)])
    if not isinstance(call, dict) or (dns is not None and not isinstance(dns, dict)):
        raise Refused([f"{_where('module')}: each module call must be a JSON object"])
    return call, dns


def read_main(main: Any, folder: Path, cloud: str, limits: Limits = DEFAULT_LIMITS) -> Imported:
    """Map an MC Hub `main.tf.json` (parsed) to a spec on `cloud`. Raises Refused."""
    call, dns = _the_module(main)
    module = module_ref(call.get("source"), folder)
    major = module.major()
    if major is not None and major < 14:
        raise Refused(
            [
                f"{_where('module.openstack.source')}: Magic Castle {module.release} needs generate_ssh_key "
                "(and its dns module ssh_private_key), which the hub's main.tf does not set: upgrade the "
                "cluster to Magic Castle 14 or later in MC Hub, then import it"
            ]
        )
    known = set(SPEC_VARIABLES) | set(CLOUD_VARIABLES) | {"guest_passwd"} | set(IGNORED_FROM_14)
    problems = [
        f"{_where('module.openstack.' + key)}: unknown variable; a spec cannot say it, so the hub's "
        f"next plan would drop it (variables a spec holds: {', '.join(SPEC_VARIABLES)})"
        for key in sorted(set(call) - known)
    ]
    if problems:
        raise Refused(problems)
    password = call.get("guest_passwd")
    if not isinstance(password, str) or not password:
        raise Refused(
            [
                f"{_where('module.openstack.guest_passwd')}: missing or empty; the hub would choose "
                "another and change the guests' password; set one in MC Hub first"
            ]
        )
    data = {k: call[k] for k in SPEC_VARIABLES if k in call}
    data.update(cloud=cloud, guest_passwd=password)
    try:
        spec = parse_spec(data, MAIN, limits)
    except SpecError as exc:
        raise Refused([f"{_where('module.openstack.' + e.path)}: {e.message}" for e in exc.errors]) from None
    values = {k: call[k] for k in CLOUD_VARIABLES[1:] if k in call}
    if not all(isinstance(v, str) for v in values.values()):
        raise Refused([f"{_where('module.openstack')}: {', '.join(values)} must be strings"])
    return Imported(spec.model_copy(update={"guest_passwd": None}), password, module, values, dns)


def cloud_module_problems(imported: Imported, cloud: CloudConfig, bundled: Path) -> list[str]:
    """Why the cloud's settings would not plan the imported cluster as MC Hub built it: another
    module or release, another Puppet config, network, or DNS module. `bundled`: the bundled
    module's folder (the cloud's `module: bundled`)."""
    where, module = f"clouds.{cloud.name}", imported.module
    wanted = _wanted_module(module, bundled)
    if not _same_module(cloud.module, wanted, bundled):
        return [
            f"{where}.module: is {cloud.module!r}, but the state was made with {module.source}; "
            f"set {where}.module: {wanted} (or import with --cloud naming a cloud that has it)"
        ]
    problems = []
    checks = {
        "os_ext_network": ("external_network", cloud.external_network),
        "subnet_id": ("subnet", cloud.subnet),
    }
    if module.release is not None:  # the bundled module reads neither
        checks.update(
            config_git_url=("config_git_url", cloud.config_git_url),
            config_version=("config_version", cloud.config_version),
        )
    for variable, (setting, value) in checks.items():
        given = imported.cloud_values.get(variable)
        if given is not None and given != value:
            problems.append(
                f"{_where('module.openstack.' + variable)}: {given!r}, but {where}.{setting} is {value!r}; "
                f"set {where}.{setting}: {given}"
            )
    return problems + _dns_problems(imported, cloud)


def _wanted_module(module: ModuleRef, bundled: Path) -> str:
    """The `clouds.<name>.module` setting that renders `module` again."""
    if module.release is not None:
        return f"magic_castle:{module.release}"
    if module.path is not None:
        return "bundled" if module.path == bundled.resolve() else str(module.path)
    return module.source


def _same_module(setting: str, wanted: str, bundled: Path) -> bool:
    if setting == wanted:
        return True
    local = (bundled if setting == "bundled" else Path(setting).expanduser()).resolve()
    wanted_path = bundled.resolve() if wanted == "bundled" else Path(wanted)
    return setting.startswith(("/", "./", "../", "~", "bundled")) and local == wanted_path


def _dns_problems(imported: Imported, cloud: CloudConfig) -> list[str]:
    where, dns, release = f"clouds.{cloud.name}.dns", imported.dns, imported.module.release
    if dns is None:
        if cloud.dns is not None:
            return [
                f"{_where('module.dns')}: none, but {where} adds DNS records; import with a cloud without dns"
            ]
        return []
    found = _DNS_GIT.fullmatch(str(dns.get("source", "")))
    if not found or found["ref"] != release:
        return [f"{_where('module.dns.source')}: not Magic Castle's dns module at release {release}"]
    provider = found["provider"]
    if cloud.dns is None or cloud.dns.provider != provider:
        return [
            f"{_where('module.dns')}: records made with {provider}; set {where}: {{provider: {provider}}}"
        ]
    problems = []
    for key in sorted(
        set(dns) - {"source", *DNS_FROM_OPENSTACK, "project", "zone_name", *DNS_IGNORED_FROM_14}
    ):
        problems.append(f"{_where('module.dns.' + key)}: unknown variable; the hub's main.tf does not set it")
    for key, value in DNS_FROM_OPENSTACK.items():
        if dns.get(key, value) != value:
            problems.append(f"{_where('module.dns.' + key)}: must be {value}, as MC Hub wrote it")
    for key in ("project", "zone_name"):
        if dns.get(key) != getattr(cloud.dns, key):
            problems.append(
                f"{_where('module.dns.' + key)}: {dns.get(key)!r}; set {where}.{key}: {dns.get(key)}"
            )
    return problems


def state_problems(state: Any, spec: ClusterSpec) -> list[str]:
    """Why `terraform.tfstate` is not the state of the cluster `spec` describes: not a state, an
    empty one, resources outside the cluster's modules, another cluster's servers or volumes, or
    other hosts than the spec's (MC Hub's last change did not finish)."""
    if (
        not isinstance(state, dict)
        or state.get("version") != 4
        or not isinstance(state.get("resources", []), list)
    ):
        return [f"{STATE}: not a Terraform state (format version 4, with a resources list)"]
    resources = state.get("resources") or []
    if not resources:
        return [
            f"{STATE}: holds no resources: MC Hub never built this cluster, or destroyed it; write a spec"
        ]
    name, problems, hosts = spec.cluster_name, [], set()
    for res in resources:
        if not isinstance(res, dict) or not isinstance(res.get("instances", []), list):
            return [f"{STATE}: resources: each must be an object with a list of instances"]
        address = f"{res.get('module', '')}.{res.get('type')}.{res.get('name')}".lstrip(".")
        if not str(res.get("module", "")).startswith(("module.openstack", "module.dns")):
            problems.append(
                f"{STATE}: {address}: outside module.openstack and module.dns; the hub would destroy it"
            )
            continue
        if res.get("mode") != "managed" or res.get("type") not in NAMED_TYPES:
            continue
        for inst in res.get("instances") or []:
            attrs = inst.get("attributes") if isinstance(inst, dict) else None
            own = str((attrs or {}).get("name", ""))
            if not own.startswith(f"{name}-"):
                problems.append(
                    f'{STATE}: {address}: "{own}" is not a resource of cluster "{name}" (its names start '
                    f'"{name}-"): this state is another cluster\'s'
                )
            elif (
                res.get("type") == "openstack_compute_instance_v2" and res.get("module") == "module.openstack"
            ):
                hosts.add(str(inst.get("index_key")))
    return problems or _host_problems(hosts, spec)


def _host_problems(hosts: set[str], spec: ClusterSpec) -> list[str]:
    if any("pool" in i.tags for i in spec.instances.values()):
        return []  # pool hosts are built on demand: the state may hold fewer
    wanted = set(spec.hosts())
    if hosts == wanted:
        return []
    return [
        f"{STATE}: holds hosts {', '.join(sorted(hosts)) or 'none'} but {MAIN} asks for "
        f"{', '.join(sorted(wanted))}: MC Hub's last change did not finish; finish or undo it in MC Hub first"
    ]
