"""Rendering: golden main.tf files, and no spec value can escape its HCL string (checked by
handing arbitrary unicode through the real template to the real Terraform and back)."""

from __future__ import annotations

import json
import os
import subprocess
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cloud.figures import Image
from reconciler.cloud.imagepick import pick
from reconciler.engine.imagepins import pins_for
from reconciler.engine.render import render_main_tf
from reconciler.model.settings import CloudConfig, Settings
from reconciler.model.spec import ClusterSpec, Instance, Volume, parse_yaml
from reconciler.model.status import ImagePin

DATA = Path(__file__).parent.parent / "data"
GOLDEN = DATA / "golden"
TEMPLATES = Settings().templates_dir
CLOUDS = {
    "bundled": CloudConfig("sandbox"),
    "magic-castle": CloudConfig("arbutus", module="magic_castle:15.6.1", external_network="Public-Network"),
}
SPECS = sorted((DATA / "specs").glob("*.yaml"))


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
@pytest.mark.parametrize("spec_file", SPECS, ids=[p.stem for p in SPECS])
def test_golden(spec_file: Path, cloud: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    spec = parse_yaml(spec_file.read_text())
    workdir = TEMPLATES.parent / "clusters" / spec.cluster_name
    text = render_main_tf(spec, CLOUDS[cloud], TEMPLATES, workdir)
    golden = GOLDEN / f"{spec_file.stem}.{cloud}.tf"
    if os.environ.get("MCHUB_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden} differs; rerun with MCHUB_UPDATE_GOLDEN=1 if intended"
    hcl2.loads(text)  # parses as HCL


def test_secrets_stay_out_of_main_tf() -> None:
    data = yaml.safe_load((DATA / "specs" / "base.yaml").read_text())
    data["guest_passwd"] = "correct-horse-battery"
    spec = parse_yaml(yaml.safe_dump(data))
    text = render_main_tf(spec, CLOUDS["bundled"], TEMPLATES, TEMPLATES.parent / "clusters" / "base")
    assert "correct-horse-battery" not in text
    assert "guest_passwd    = var.guest_passwd" in text


# --- property: any string survives the trip spec -> main.tf -> Terraform -> output ---------------

ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def _spec(s: list[str]) -> ClusterSpec:
    # Built without validation on purpose: even values the model would refuse must not escape.
    node = Instance.model_construct(type=s[0], tags=[s[1]], count=2, image=s[2], disk_size=None)
    return ClusterSpec.model_construct(
        cluster_name=s[3],
        domain=s[4],
        image=s[5],
        nb_users=3,
        instances={s[6] or "node": node},
        volumes={s[7] or "nfs": {s[8] or "home": Volume.model_construct(size=10, type=s[9])}},
        public_keys=[s[10], s[11]],
        hieradata=s[12],
        sudoer_username=s[13],
        guest_passwd=None,
        cloud=None,
        ensure="present",
        apply="auto",
        expires=None,
    )


def _expected(spec: ClusterSpec) -> dict[str, Any]:
    def nfc(v: Any) -> Any:
        if isinstance(v, str):
            return unicodedata.normalize("NFC", v)
        if isinstance(v, list):
            return [nfc(x) for x in v]
        if isinstance(v, dict):
            return {nfc(k): nfc(x) for k, x in v.items()}
        return v

    ((prefix, node),) = spec.instances.items()
    ((tag, vols),) = spec.volumes.items()
    ((vname, vol),) = vols.items()
    return nfc(
        {
            "cluster_name": spec.cluster_name,
            "domain": spec.domain,
            "image": spec.image,
            "instances": {prefix: {"type": node.type, "tags": node.tags, "count": 2, "image": node.image}},
            "volumes": {tag: {vname: {"size": 10, "type": vol.type, "enable_resize": True}}},
            "public_keys": spec.public_keys,
            "nb_users": 3,
            "sudoer_username": spec.sudoer_username,
            "hieradata": spec.hieradata,
            "config_version": "v1",
        }
    )


@pytest.fixture(scope="module")
def terraform_bin() -> Path:
    from reconciler.terraform import find_terraform

    return find_terraform(None)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(strings=st.lists(ANY_TEXT, min_size=14, max_size=14))
def test_any_string_round_trips_through_terraform(
    strings: list[str], terraform_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("echo")
    cloud = CloudConfig("echo", module=str(DATA / "echo-module"), config_version="v1")
    spec = _spec(strings)
    (workdir / "main.tf").write_text(render_main_tf(spec, cloud, TEMPLATES, workdir))
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": os.devnull}
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run([terraform_bin, *args], cwd=workdir, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    out = subprocess.run(
        [terraform_bin, "output", "-json", "public_instances"], cwd=workdir, env=env, capture_output=True
    )
    assert json.loads(out.stdout) == _expected(spec)


# --- images resolved once, volumes, the cloud's networking -------------------------------------

PINS = {
    "Rocky-9": ImagePin(id="5b0c1d9e-0000-4000-8000-000000000009", name="Rocky-9.3 (x86_64)"),
    "AlmaLinux-9": ImagePin(id="a1a1a1a1-0000-4000-8000-000000000001", name="AlmaLinux-9"),
}


def _plain(value: Any) -> Any:
    """python-hcl2's values with their HCL quotes taken off (it keeps them since version 7)."""
    if isinstance(value, str) and len(value) > 1 and value[0] == value[-1] == '"':
        return json.loads(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _module_args(text: str) -> dict[str, Any]:
    (block,) = [b["openstack"] for b in _plain(hcl2.loads(text)["module"]) if "openstack" in b]
    return dict(block)


def test_the_bundled_module_gets_the_resolved_image_ids() -> None:
    spec = parse_yaml((DATA / "specs" / "full.yaml").read_text())
    args = _module_args(
        render_main_tf(spec, CLOUDS["bundled"], TEMPLATES, TEMPLATES.parent / "clusters" / "full")
    )
    assert args["image"] == "Rocky-9" and args["instances"]["node"]["image"] == "AlmaLinux-9"  # none resolved
    text = render_main_tf(spec, CLOUDS["bundled"], TEMPLATES, TEMPLATES.parent / "clusters" / "full", PINS)
    args = _module_args(text)
    assert args["image"] == PINS["Rocky-9"].id
    assert args["instances"]["node"]["image"] == PINS["AlmaLinux-9"].id
    assert "image" not in args["instances"]["login"]  # no override: the cluster's image


def test_magic_castle_gets_the_resolved_name_anchored_as_go_reads_it(
    terraform_bin: Path, tmp_path: Path
) -> None:
    """Magic Castle looks images up by `name_regex` only: it gets the resolved image's exact name,
    quoted as Go's regexp reads it. Terraform's own `regex()` is Go's: asked here whether the
    rendered expression matches that name and nothing longer."""
    spec = parse_yaml((DATA / "specs" / "full.yaml").read_text())
    text = render_main_tf(
        spec, CLOUDS["magic-castle"], TEMPLATES, TEMPLATES.parent / "clusters" / "full", PINS
    )
    args = _module_args(text)
    assert args["image"] == r"^Rocky-9\.3 \(x86_64\)$"
    assert args["instances"]["node"]["image"] == "^AlmaLinux-9$"
    names = ["Rocky-9.3 (x86_64)", "Rocky-9.3 (x86_64) old", "Rocky-9x3 (x86_64)"]
    matches = f"[for n in {json.dumps(names)} : can(regex(var.re, n))]"
    (tmp_path / "main.tf").write_text(f'variable "re" {{}}\noutput "m" {{ value = {matches} }}\n')
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull,
           "TF_VAR_re": args["image"]}  # fmt: skip
    for argv in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run([terraform_bin, *argv], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    out = subprocess.run([terraform_bin, "output", "-json", "m"], cwd=tmp_path, env=env, capture_output=True)
    assert json.loads(out.stdout) == [True, False, False]


def test_every_volume_may_grow_while_attached() -> None:
    spec = parse_yaml((DATA / "specs" / "full.yaml").read_text())
    for cloud in CLOUDS.values():
        args = _module_args(render_main_tf(spec, cloud, TEMPLATES, TEMPLATES.parent / "clusters" / "full"))
        vols = args["volumes"]["nfs"]
        assert vols["home"] == {"size": 200, "type": "ssd", "enable_resize": True}
        assert all(v["enable_resize"] is True for v in vols.values())


def test_ssh_cidrs_and_subnet_reach_main_tf_only_when_set() -> None:
    spec = parse_yaml((DATA / "specs" / "base.yaml").read_text())
    workdir = TEMPLATES.parent / "clusters" / "base"
    plain = _module_args(render_main_tf(spec, CLOUDS["bundled"], TEMPLATES, workdir))
    assert "firewall_rules" not in plain and "subnet_id" not in plain  # Magic Castle's defaults
    cloud = CloudConfig("site", ssh_cidrs=("192.0.2.0/24", "2001:db8::/32"), subnet="9c2d-subnet")
    args = _module_args(render_main_tf(spec, cloud, TEMPLATES, workdir))
    assert args["subnet_id"] == "9c2d-subnet"
    rules = args["firewall_rules"]
    assert rules["ssh-1"] == {"from_port": 22, "to_port": 22, "tag": "login", "cidr": "192.0.2.0/24"}
    assert rules["icmp-2"] == {
        "from_port": 0, "to_port": 0, "tag": "login", "protocol": "icmp", "cidr": "2001:db8::/32",
        "ethertype": "IPv6",
    }  # fmt: skip
    assert "ssh" not in rules  # SSH from anywhere is gone; Magic Castle's other rules stay
    assert rules["https"] == {"from_port": 443, "to_port": 443, "tag": "proxy"}
    mc14 = CloudConfig("old", module="magic_castle:14.3.0", ssh_cidrs=("192.0.2.0/24",))
    rules14 = _module_args(render_main_tf(spec, mc14, TEMPLATES, workdir))["firewall_rules"]
    assert set(rules14) == {"ssh", "icmp", "http", "https", "Globus", "MyProxy", "GridFTP"}
    assert rules14["ssh"]["cidr"] == "192.0.2.0/24"


def _image(name: str, id: str, created: str, status: str = "active") -> Image:
    return Image(name=name, id=id, status=status, created_at=created)


def test_an_image_is_kept_while_it_can_boot_and_resolved_anew_when_its_text_changes() -> None:
    old = _image("Rocky-9", "old", "2026-01-01T00:00:00Z")
    new = _image("Rocky-9", "new", "2026-06-01T00:00:00Z")
    queued = _image("Rocky-9", "queued", "2026-07-01T00:00:00Z", status="queued")
    alma = _image("AlmaLinux-9", "alma", "2026-01-01T00:00:00Z")
    cloud = [old, new, queued, alma]
    calls: list[tuple[str | None, list[str], dict[str, str]]] = []

    def picker(name: str | None, texts: Iterable[str], kept: Mapping[str, str]) -> dict[str, Image]:
        calls.append((name, list(texts), dict(kept)))
        return pick(texts, cloud, kept)

    spec = parse_yaml((DATA / "specs" / "full.yaml").read_text())  # Rocky-9, and AlmaLinux-9 on node
    first = pins_for(spec, {}, picker)
    assert first == {
        "Rocky-9": ImagePin(id="new", name="Rocky-9"),
        "AlmaLinux-9": ImagePin(id="alma", name="AlmaLinux-9"),
    }
    recorded = {**first, "Rocky-9": ImagePin(id="old", name="Rocky-9")}  # resolved back when it was newest
    assert pins_for(spec, recorded, picker)["Rocky-9"].id == "old"  # kept: it still boots
    assert pins_for(spec, recorded, None) == recorded  # a drift check or an apply never resolves
    gone = [new, queued, alma]  # the operator deleted the old image
    assert pick(["Rocky-9"], gone, {"Rocky-9": "old"})["Rocky-9"].id == "new"
    changed = spec.model_copy(update={"image": "Rocky"})
    assert pins_for(changed, recorded, picker)["Rocky"].id == "new"  # a new text, resolved anew
    assert "Rocky-9" not in pins_for(changed, recorded, picker)
    assert pick(["Ubuntu"], cloud, {}) == {}  # nothing active matches: the name is rendered as written
    assert calls[0] == (spec.cloud, ["Rocky-9", "AlmaLinux-9"], {})
