"""Rendering: golden main.tf files, and no spec value can escape its HCL string (checked by
handing arbitrary unicode through the real template to the real Terraform and back)."""

from __future__ import annotations

import json
import os
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.engine.render import render_main_tf
from reconciler.model.settings import CloudConfig, Settings
from reconciler.model.spec import ClusterSpec, Instance, Volume, parse_yaml

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
            "volumes": {tag: {vname: {"size": 10, "type": vol.type}}},
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
