"""Offline checks of the rendered main.tf against Magic Castle's module interface (releases 14.3.0
and 15.6.1, tests/data/magic-castle-interface.json, a copy of shared/reference) and against the
bundled module: every argument is a declared variable, every required variable is given, and the
values keep Magic Castle's own rules. Also `mchub render NAME`, and secrets stay out of main.tf."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hcl2.utils import SerializationOptions

from reconciler.engine.render import render_main_tf
from reconciler.entry import cli
from reconciler.model import secrets
from reconciler.model.settings import CloudConfig, DnsConfig, Settings
from reconciler.model.spec import ClusterSpec, parse_yaml

DATA = Path(__file__).parent.parent / "data"
GOLDEN = DATA / "golden"
TEMPLATES = Settings().templates_dir
INTERFACE = json.loads((DATA / "magic-castle-interface.json").read_text())
VERSIONS = sorted(INTERFACE["versions"])
SPECS = sorted((DATA / "specs").glob("*.yaml"))
SPEC_IDS = [p.stem for p in SPECS]
BUNDLED_VARIABLES = TEMPLATES / "modules" / "openstack-vms" / "variables.tf"

# Magic Castle's plan-time rules (shared/reference/magic-castle.md).
CLUSTER_NAME_RE = re.compile(r"^[a-z][0-9a-z-]{1,40}$")
DOMAIN_RE = re.compile(r"^[a-z][0-9a-z-.]*$")
HOSTNAME_RE = re.compile(r"^[a-z][0-9a-z-]{1,63}$")
CONFIG_GIT_URL_RE = re.compile(r"^https://.*\.git$")
OPTIONS = SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=False)
DNS = {
    "cloudflare": DnsConfig("cloudflare"),
    "gcloud": DnsConfig("gcloud", project="hpc-dns", zone_name="example-org"),
}


def test_interface_data_is_the_reference_copy() -> None:
    assert VERSIONS == ["14.3.0", "15.6.1"]
    reference = Path(__file__).resolve().parents[3] / "shared" / "reference" / "magic-castle-interface.json"
    if reference.is_file():  # the shared folder exists on the build machines only
        assert json.loads(reference.read_text()) == INTERFACE


# -- reading main.tf back --------------------------------------------------------------------


def _unescape_templates(value: Any) -> Any:
    # python-hcl2 resolves backslash escapes but keeps HCL's literal forms `$${` and `%%{`.
    if isinstance(value, str):
        return re.sub(r"([$%])\1\{", r"\1{", value)
    if isinstance(value, list):
        return [_unescape_templates(v) for v in value]
    if isinstance(value, dict):
        return {k: _unescape_templates(v) for k, v in value.items()}
    return value


def parse(text: str) -> dict[str, Any]:
    """main.tf as Python values (strings decoded), or an HCL syntax error."""
    return dict(hcl2.loads(text, serialization_options=OPTIONS))


def module_args(tree: dict[str, Any], name: str) -> dict[str, Any]:
    calls = [block[name] for block in tree.get("module", []) if name in block]
    assert len(calls) == 1, f'expected one module "{name}", found {len(calls)}'
    return {k: _unescape_templates(v) for k, v in calls[0].items()}


def magic_castle(version: str, dns: DnsConfig | None = None) -> CloudConfig:
    return CloudConfig(
        "arbutus",
        module=f"magic_castle:{version}",
        config_version=version,
        external_network="Public-Network",
        dns=dns,
    )


def render(spec: ClusterSpec, cloud: CloudConfig) -> str:
    return render_main_tf(spec, cloud, TEMPLATES, TEMPLATES.parent / "clusters" / spec.cluster_name)


def load(spec_file: Path) -> ClusterSpec:
    return parse_yaml(spec_file.read_text())


# -- the rules -----------------------------------------------------------------------------------


def _type_ok(type_: str | None, value: Any) -> bool:
    if isinstance(value, str) and value.startswith("${var."):
        return True  # a root variable: checked on its own (guest_passwd)
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_ == "bool":
        return isinstance(value, bool)
    if type_ == "list(string)":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return True  # any, or a structural type checked by the rules below


def check_interface(args: dict[str, Any], variables: dict[str, dict[str, Any]]) -> list[str]:
    """What Terraform (or the module's validations) would refuse, as readable problems."""
    problems = []
    given = set(args) - {"source"}
    for name in sorted(given - set(variables)):
        problems.append(f"{name}: not a variable of the module")
    for name in sorted(n for n, v in variables.items() if v.get("required") and n not in given):
        problems.append(f"{name}: required but not given")
    for name in sorted(given & set(variables)):
        if not _type_ok(variables[name].get("type"), args[name]):
            problems.append(f"{name}: {args[name]!r} is not a {variables[name]['type']}")
    return problems


def check_rules(args: dict[str, Any]) -> list[str]:
    problems = []
    if not CLUSTER_NAME_RE.match(args["cluster_name"]):
        problems.append(f"cluster_name {args['cluster_name']!r} does not match {CLUSTER_NAME_RE.pattern}")
    if not DOMAIN_RE.match(args["domain"]):
        problems.append(f"domain {args['domain']!r} does not match {DOMAIN_RE.pattern}")
    if not (isinstance(args["image"], str) and args["image"]):
        problems.append("image: empty")
    if not CONFIG_GIT_URL_RE.match(args["config_git_url"]):
        problems.append(
            f"config_git_url {args['config_git_url']!r} does not match {CONFIG_GIT_URL_RE.pattern}"
        )
    if not args["config_version"]:
        problems.append("config_version: empty")
    try:
        yaml.safe_load(args.get("hieradata", "---"))
    except yaml.YAMLError as exc:
        problems.append(f"hieradata: not YAML ({exc})")
    if args.get("nb_users", 0) < 0:
        problems.append("nb_users: negative")
    proxies = logins = 0
    for prefix, inst in args["instances"].items():
        if not (isinstance(inst.get("type"), str) and inst["type"]):
            problems.append(f"instances.{prefix}.type: missing")
        if not isinstance(inst.get("count"), int) or inst["count"] < 0:
            problems.append(f"instances.{prefix}.count: not a count")
        tags = inst.get("tags", [])
        for i in range(1, inst.get("count", 0) + 1):
            if not HOSTNAME_RE.match(f"{prefix}{i}"):
                problems.append(f"instances.{prefix}: host {prefix}{i} does not match {HOSTNAME_RE.pattern}")
        proxies += inst.get("count", 0) if "proxy" in tags else 0
        logins += "login" in tags
    if proxies > 1:
        problems.append(f"instances: {proxies} instances carry proxy (at most one may)")
    if logins > 1:
        problems.append(f"instances: {logins} prefixes carry login (at most one may)")
    for tag, vols in args["volumes"].items():
        for name, vol in vols.items():
            if not (isinstance(vol, dict) and isinstance(vol.get("size"), int) and vol["size"] > 0):
                problems.append(f"volumes.{tag}.{name}: no size")
    if not args["public_keys"]:
        problems.append("public_keys: empty")
    return problems


def expected_values(spec: ClusterSpec) -> dict[str, Any]:
    """What the spec asks Magic Castle for, as the module sees it after HCL decoding."""
    instances = {p: i.model_dump(mode="json", exclude_none=True) for p, i in spec.instances.items()}
    volumes = {  # every volume may grow while attached: Magic Castle's `enable_resize`
        t: {n: {**v.model_dump(mode="json", exclude_none=True), "enable_resize": True} for n, v in vs.items()}
        for t, vs in spec.volumes.items()
    }
    return {
        "cluster_name": spec.cluster_name,
        "domain": spec.domain,
        "image": spec.image,
        "instances": instances,
        "volumes": volumes,
        "public_keys": spec.public_keys,
        "nb_users": spec.nb_users,
        "sudoer_username": spec.sudoer_username,
        "hieradata": spec.hieradata,
    }


# -- Magic Castle releases -----------------------------------------------------------------------


@pytest.mark.parametrize("spec_file", SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_magic_castle_arguments_are_declared_required_and_valid(version: str, spec_file: Path) -> None:
    spec = load(spec_file)
    args = module_args(parse(render(spec, magic_castle(version))), "openstack")
    assert (
        args["source"] == f"git::https://github.com/ComputeCanada/magic_castle.git//openstack?ref={version}"
    )
    assert check_interface(args, INTERFACE["versions"][version]["variables"]) == []
    assert check_rules(args) == []
    assert args["config_version"] == version
    assert args["os_ext_network"] == "Public-Network"
    # What Magic Castle receives is exactly what the spec says, escapes and all.
    assert {k: args[k] for k in expected_values(spec)} == expected_values(spec)


@pytest.mark.parametrize("version", VERSIONS)
def test_outputs_read_only_declared_outputs(version: str) -> None:
    text = render(load(DATA / "specs" / "full.yaml"), magic_castle(version, DNS["gcloud"]))
    declared = set(INTERFACE["versions"][version]["outputs"])
    used = set(re.findall(r"module\.openstack\.(\w+)", text))
    assert used and used <= declared, f"outputs not declared by {version}: {sorted(used - declared)}"


def test_an_undeclared_argument_would_be_caught() -> None:
    variables = INTERFACE["versions"]["14.3.0"]["variables"]
    args = module_args(parse(render(load(SPECS[0]), magic_castle("14.3.0"))), "openstack")
    assert check_interface({**args, "bastion_tags": []}, variables) == [
        "bastion_tags: not a variable of the module"
    ]
    del args["public_keys"]
    assert check_interface(args, variables) == ["public_keys: required but not given"]


def test_guest_password_reaches_the_module_only_through_the_environment() -> None:
    tree = parse(render(load(DATA / "specs" / "full.yaml"), magic_castle("15.6.1")))
    assert module_args(tree, "openstack")["guest_passwd"] == "${var.guest_passwd}"
    (root,) = [v["guest_passwd"] for v in tree["variable"] if "guest_passwd" in v]
    assert root["default"] == "" and root["sensitive"] is True  # "" = Magic Castle generates one


# -- DNS module ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(DNS))
@pytest.mark.parametrize("version", VERSIONS)
def test_dns_module_call(version: str, provider: str) -> None:
    text = render(load(DATA / "specs" / "full.yaml"), magic_castle(version, DNS[provider]))
    tree = parse(text)
    dns = module_args(tree, "dns")
    assert dns.pop("source") == (
        f"git::https://github.com/ComputeCanada/magic_castle.git//dns/{provider}?ref={version}"
    )
    expected = {
        "name": "${module.openstack.cluster_name}",
        "domain": "${module.openstack.domain}",
        "public_instances": "${module.openstack.public_instances}",
    }
    if provider == "gcloud":
        expected |= {"project": "hpc-dns", "zone_name": "example-org"}
    assert dns == expected
    assert check_interface(module_args(tree, "openstack"), INTERFACE["versions"][version]["variables"]) == []


def test_dns_values_are_escaped() -> None:
    cloud = magic_castle("15.6.1", DnsConfig("gcloud", project='p"${x}', zone_name="z\n%{y}"))
    dns = module_args(parse(render(load(SPECS[0]), cloud)), "dns")
    assert (dns["project"], dns["zone_name"]) == ('p"${x}', "z\n%{y}")


def test_no_dns_module_for_other_sources() -> None:
    # Settings refuse this combination; the renderer still never calls DNS for a non-Magic Castle source.
    tree = parse(render(load(SPECS[0]), CloudConfig("sandbox", dns=DNS["cloudflare"])))
    assert [name for block in tree["module"] for name in block] == ["openstack"]


@pytest.mark.parametrize("provider", sorted(DNS))
def test_dns_golden(provider: str) -> None:
    text = render(load(DATA / "specs" / "full.yaml"), magic_castle("15.6.1", DNS[provider]))
    golden = GOLDEN / f"full.magic-castle-dns-{provider}.tf"
    if os.environ.get("MCHUB_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden} differs; rerun with MCHUB_UPDATE_GOLDEN=1 if intended"


# -- the bundled module ------------------------------------------------------------------------


def bundled_variables() -> dict[str, dict[str, Any]]:
    tree = parse(BUNDLED_VARIABLES.read_text())
    out: dict[str, dict[str, Any]] = {}
    for block in tree["variable"]:
        ((name, body),) = block.items()
        out[name] = {"required": "default" not in body, **body}
    return out


def test_bundled_module_declares_exactly_magic_castles_variables() -> None:
    union = set().union(*(v["variables"] for v in INTERFACE["versions"].values()))
    assert set(bundled_variables()) == union


def test_bundled_module_requires_what_magic_castle_requires() -> None:
    bundled = bundled_variables()
    for version, interface in INTERFACE["versions"].items():
        for name, var in interface["variables"].items():
            assert bundled[name]["required"] == var["required"], f"{name} (Magic Castle {version})"
            if not var["required"] and name != "firewall_rules":  # the bundled module opens no ports
                assert bundled[name]["default"] == var["default"], f"{name} default (Magic Castle {version})"
            # Same types, but Terraform 1.0 has no optional(): object types with optionals become any.
            ours = str(bundled[name].get("type", "any")).removeprefix("${").removesuffix("}")
            theirs = var.get("type", "any")
            assert ours == theirs or (ours == "any" and "optional(" in theirs), f"{name} type ({version})"


@pytest.mark.parametrize("spec_file", SPECS, ids=SPEC_IDS)
def test_bundled_arguments_are_declared_required_and_valid(spec_file: Path) -> None:
    spec = load(spec_file)
    args = module_args(parse(render(spec, CloudConfig("sandbox"))), "openstack")
    assert args["source"] == "../../templates/modules/openstack-vms"
    assert check_interface(args, bundled_variables()) == []
    assert check_rules(args) == []
    assert {k: args[k] for k in expected_values(spec)} == expected_values(spec)


# -- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["bundled", *(f"magic_castle:{v}" for v in VERSIONS)])
def test_passwords_never_reach_main_tf(module: str, tmp_path: Path) -> None:
    data = yaml.safe_load((DATA / "specs" / "full.yaml").read_text())
    spec_given = parse_yaml(yaml.safe_dump(data))
    assert spec_given.guest_passwd
    data.pop("guest_passwd")
    spec_generated = parse_yaml(yaml.safe_dump(data))
    generated = secrets.guest_password(tmp_path, "full", None)
    assert len(generated) >= 8  # Magic Castle's rule for a given password
    cloud = CloudConfig("c", module=module, dns=DNS["cloudflare"] if module != "bundled" else None)
    for spec in (spec_given, spec_generated):
        text = render(spec, cloud)
        assert spec_given.guest_passwd not in text
        assert generated not in text


# -- mchub render NAME -------------------------------------------------------------------------


def _hub_dirs(tmp_path: Path, settings: dict[str, Any]) -> list[str]:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "full.yaml").write_text(
        (DATA / "specs" / "full.yaml").read_text().replace("cloud: sandbox", "cloud: arbutus")
    )
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    return [
        "--settings",
        str(tmp_path / "settings.yaml"),
        "render",
        "--specs",
        str(specs),
        "--clusters",
        str(tmp_path / "clusters"),
    ]


def test_cli_render_prints_main_tf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = {
        "clouds": {
            "arbutus": {
                "module": "magic_castle:14.3.0",
                "config_version": "14.3.0",
                "dns": {"provider": "gcloud", "project": "p", "zone_name": "z"},
            }
        },
    }
    args = _hub_dirs(tmp_path, settings)
    assert cli.main([*args, "full"]) == 0
    out = capsys.readouterr().out
    tree = parse(out)
    openstack = module_args(tree, "openstack")
    assert openstack["source"].endswith("//openstack?ref=14.3.0")
    assert check_interface(openstack, INTERFACE["versions"]["14.3.0"]["variables"]) == []
    assert module_args(tree, "dns")["source"].endswith("//dns/gcloud?ref=14.3.0")
    assert "not-in-main-tf-ever" not in out
    assert not (tmp_path / "clusters").exists() or not any((tmp_path / "clusters").rglob("main.tf"))


def test_cli_render_names_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _hub_dirs(tmp_path, {"clouds": {"other": {"module": "bundled"}}})
    assert cli.main([*args, "full"]) == 1
    err = capsys.readouterr().err
    assert 'cloud "arbutus" is not configured; choose one of other, sandbox' in err
    assert cli.main([*args, "missing"]) == 1
    assert "missing" in capsys.readouterr().err


@pytest.mark.parametrize("version", VERSIONS)
def test_the_clouds_networking_settings_are_magic_castles_arguments(version: str) -> None:
    """subnet_id and firewall_rules (SSH and ICMP from the cloud's ssh_cidrs) are arguments each
    release declares, with values of the types it declares."""
    cloud = replace(
        magic_castle(version), subnet="9c2d-subnet", ssh_cidrs=("192.0.2.0/24", "198.51.100.7/32")
    )
    args = module_args(parse(render(load(DATA / "specs" / "full.yaml"), cloud)), "openstack")
    assert check_interface(args, INTERFACE["versions"][version]["variables"]) == []
    assert args["subnet_id"] == "9c2d-subnet"
    assert {r["cidr"] for n, r in args["firewall_rules"].items() if n.startswith(("ssh", "icmp"))} == {
        "192.0.2.0/24",
        "198.51.100.7/32",
    }
