"""`mchub import-mchub`: MC Hub cluster folders (shaped as MC Hub's own test fixtures,
tests/data/mock-clusters in ComputeCanada/mc-hub) mapped to a spec, a state and a kept password;
and every refusal, which names the file and field and leaves nothing behind."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.entry import importer
from reconciler.entry.cli import main
from reconciler.model.mchub import read_main
from reconciler.model.specfiles import SpecExists

DATA = Path(__file__).resolve().parents[1] / "data" / "mchub"
ORCA = DATA / "orca.example.org"
PASSWORD = "kayak-ocean-2024"


@pytest.fixture
def hub(tmp_path: Path) -> dict[str, Path]:
    """A hub's settings file with a cloud `prod` on Magic Castle 14.3.0, and empty specs/clusters."""
    settings = tmp_path / "settings.yaml"
    specs, clusters = tmp_path / "specs", tmp_path / "clusters"
    settings.write_text(
        yaml.safe_dump(
            {
                "specs_dir": str(specs),
                "clusters_dir": str(clusters),
                "default_cloud": "prod",
                "clouds": {"prod": {"module": "magic_castle:14.3.0", "config_version": "14.3.0"}},
            }
        )
    )
    return {"settings": settings, "specs": specs, "clusters": clusters, "root": tmp_path}


def folder_copy(
    root: Path, source: Path = ORCA, edit: Callable[[dict[str, Any], Any], None] | None = None
) -> Path:
    """A copy of an MC Hub cluster folder, `edit(main, state)` applied to its parsed files."""
    target = root / "mchub" / source.name
    shutil.copytree(source, target)
    if edit is not None:
        main_tf = json.loads((target / "main.tf.json").read_text())
        state = json.loads((target / "terraform.tfstate").read_text())
        edit(main_tf, state)
        (target / "main.tf.json").write_text(json.dumps(main_tf, indent=4))
        (target / "terraform.tfstate").write_text(json.dumps(state))
    return target


def run(hub: dict[str, Path], *args: str) -> int:
    return main(["--settings", str(hub["settings"]), "import-mchub", *args])


def written(hub: dict[str, Path]) -> list[str]:
    """Every file under specs/ and clusters/ (an atomic refusal leaves none)."""
    return sorted(
        str(p.relative_to(hub["root"]))
        for d in ("specs", "clusters")
        for p in hub[d].rglob("*")
        if p.exists()
    )


def test_the_spec_says_what_main_tf_json_said(
    capsys: pytest.CaptureFixture[str], hub: dict[str, Path]
) -> None:
    assert run(hub, str(ORCA)) == 0
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err
    module = json.loads((ORCA / "main.tf.json").read_text())["module"]["openstack"]
    text = (hub["specs"] / "orca.yaml").read_text()
    spec = yaml.safe_load(text)
    for key in ("cluster_name", "domain", "image", "nb_users", "public_keys", "volumes"):
        assert spec[key] == module[key], key
    assert spec["instances"] == module["instances"]
    assert spec["cloud"] == "prod"
    assert "guest_passwd" not in spec and PASSWORD not in text
    secrets = hub["clusters"] / "orca" / "secrets.json"
    assert json.loads(secrets.read_text())["guest_passwd"] == PASSWORD
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    state = hub["clusters"] / "orca" / "terraform.tfstate"
    assert json.loads(state.read_text()) == json.loads((ORCA / "terraform.tfstate").read_text())
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert not [p for p in hub["clusters"].iterdir() if p.name.startswith(".")]  # no temp folder left


def test_the_rendered_main_tf_calls_the_same_release_without_the_password(
    capsys: pytest.CaptureFixture[str], hub: dict[str, Path]
) -> None:
    assert run(hub, str(ORCA)) == 0
    assert main(["--settings", str(hub["settings"]), "render", "orca"]) == 0
    rendered = capsys.readouterr().out
    assert "magic_castle.git//openstack?ref=14.3.0" in rendered
    assert 'config_version = "14.3.0"' in rendered
    assert PASSWORD not in rendered


def test_dry_run_prints_the_spec_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], hub: dict[str, Path]
) -> None:
    assert run(hub, str(ORCA), "--dry-run") == 0
    out = capsys.readouterr()
    assert yaml.safe_load(out.out)["cluster_name"] == "orca"
    assert PASSWORD not in out.out + out.err
    assert written(hub) == []


def test_hieradata_and_sudoer_are_kept(hub: dict[str, Path]) -> None:
    def edit(main_tf: dict[str, Any], state: Any) -> None:
        main_tf["module"]["openstack"].update(hieradata="", sudoer_username="rocky")

    folder = folder_copy(hub["root"], edit=edit)
    imported = read_main(json.loads((folder / "main.tf.json").read_text()), folder, "prod")
    assert (imported.spec.hieradata, imported.spec.sudoer_username) == ("", "rocky")
    assert imported.spec.guest_passwd is None and imported.guest_passwd == PASSWORD


def _set(path: str, value: Any) -> Callable[[dict[str, Any], Any], None]:
    def edit(main_tf: dict[str, Any], state: Any) -> None:
        node = main_tf
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def _rename_module(main_tf: dict[str, Any], state: Any) -> None:
    main_tf["module"]["aws"] = main_tf["module"].pop("openstack")


def _two_modules(main_tf: dict[str, Any], state: Any) -> None:
    main_tf["module"]["other"] = dict(main_tf["module"]["openstack"])


def _other_cluster(main_tf: dict[str, Any], state: Any) -> None:
    main_tf["module"]["openstack"]["cluster_name"] = "whale"


def _no_resources(main_tf: dict[str, Any], state: Any) -> None:
    state["resources"] = []


def _extra_resource(main_tf: dict[str, Any], state: Any) -> None:
    state["resources"].append({"mode": "managed", "type": "null_resource", "name": "x", "instances": []})


REFUSALS: dict[str, tuple[Callable[[dict[str, Any], Any], None] | None, str]] = {
    "unknown variable": (
        _set("module.openstack.firewall_rules", {}),
        "main.tf.json: module.openstack.firewall_rules: unknown variable",
    ),
    "another cloud provider": (_rename_module, "main.tf.json: module.aws: the cluster was built on aws"),
    "another provider's source": (
        _set(
            "module.openstack.source",
            "git::https://github.com/ComputeCanada/magic_castle.git//aws?ref=14.3.0",
        ),
        "main.tf.json: module.openstack.source: the cluster was built on aws",
    ),
    "several modules": (_two_modules, "main.tf.json: module: expected one cluster module (openstack)"),
    "a state from another cluster": (_other_cluster, "terraform.tfstate: module.openstack.openstack_compute"),
    "an empty state": (_no_resources, "terraform.tfstate: holds no resources"),
    "a resource outside the modules": (_extra_resource, "null_resource.x: outside module.openstack"),
    "a field the spec refuses": (
        _set("module.openstack.nb_users", "ten"),
        "main.tf.json: module.openstack.nb_users",
    ),
    "a bad flavor entry": (
        _set("module.openstack.instances.node.gpu", True),
        "main.tf.json: module.openstack.instances.node.gpu: unknown field",
    ),
    "no guest password": (
        _set("module.openstack.guest_passwd", ""),
        "module.openstack.guest_passwd: missing or empty",
    ),
    "hosts the state lacks": (
        _set("module.openstack.instances.node.count", 3),
        "MC Hub's last change did not finish",
    ),
    "another Magic Castle release": (
        _set(
            "module.openstack.source",
            "git::https://github.com/ComputeCanada/magic_castle.git//openstack?ref=15.6.1",
        ),
        "clouds.prod.module: is 'magic_castle:14.3.0', but the state was made with git::https://github.com/"
        "ComputeCanada/magic_castle.git//openstack?ref=15.6.1; set clouds.prod.module: magic_castle:15.6.1",
    ),
    "another Puppet config": (
        _set("module.openstack.config_version", "14.2.1"),
        "main.tf.json: module.openstack.config_version: '14.2.1', but clouds.prod.config_version is '14.3.0'",
    ),
    "a DNS module the cloud does not make": (
        _set(
            "module.dns",
            {"source": "git::https://github.com/ComputeCanada/magic_castle.git//dns/cloudflare?ref=14.3.0"},
        ),
        "main.tf.json: module.dns: records made with cloudflare; set clouds.prod.dns: {provider: cloudflare}",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_name_the_file_and_field_and_leave_nothing(
    case: str, capsys: pytest.CaptureFixture[str], hub: dict[str, Path]
) -> None:
    edit, expected = REFUSALS[case]
    folder = folder_copy(hub["root"], edit=edit)
    assert run(hub, str(folder)) == 1
    err = capsys.readouterr().err
    assert expected in err, err
    assert PASSWORD not in err
    assert written(hub) == []


def test_a_release_before_14_is_refused_with_what_to_do(
    capsys: pytest.CaptureFixture[str], hub: dict[str, Path]
) -> None:
    assert run(hub, str(DATA / "legacy.example.org")) == 1
    err = capsys.readouterr().err
    assert "Magic Castle 11.8 needs generate_ssh_key" in err and "upgrade the cluster" in err
    assert written(hub) == []


def test_mc_hubs_empty_state_fixture_is_refused(
    capsys: pytest.CaptureFixture[str], hub: dict[str, Path]
) -> None:
    assert run(hub, str(DATA / "empty-state.example.org")) == 1
    assert "terraform.tfstate: not a Terraform state" in capsys.readouterr().err
    assert written(hub) == []


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("main.tf.json", "main.tf.json: not valid JSON"),
        ("terraform.tfstate", "terraform.tfstate: not valid JSON"),
        ("missing", "terraform.tfstate: missing from"),
    ],
)
def test_malformed_files_are_refused(
    damage: str, expected: str, capsys: pytest.CaptureFixture[str], hub: dict[str, Path]
) -> None:
    folder = folder_copy(hub["root"])
    if damage == "missing":
        (folder / "terraform.tfstate").unlink()
    else:
        (folder / damage).write_text('{"module": ')
    assert run(hub, str(folder)) == 1
    assert expected in capsys.readouterr().err
    assert written(hub) == []


def test_a_name_already_taken_is_refused(capsys: pytest.CaptureFixture[str], hub: dict[str, Path]) -> None:
    hub["specs"].mkdir()
    (hub["specs"] / "orca.yaml").write_text("cluster_name: orca\n")
    assert run(hub, str(ORCA)) == 1
    assert 'cluster_name: a cluster named "orca" already exists' in capsys.readouterr().err
    assert written(hub) == ["specs/orca.yaml"]


def test_an_unknown_cloud_is_refused(capsys: pytest.CaptureFixture[str], hub: dict[str, Path]) -> None:
    assert run(hub, str(ORCA), "--cloud", "nowhere") == 2
    assert 'cloud "nowhere" is not configured' in capsys.readouterr().err
    assert written(hub) == []


def test_a_spec_written_meanwhile_undoes_the_import(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], hub: dict[str, Path]
) -> None:
    """Another writer (the web form, git) makes specs/orca.yaml between the checks and the write:
    the cluster folder this import made is removed again."""

    def raced(path: Path, make: Any, expected: Any = None) -> Any:
        raise SpecExists("orca")

    monkeypatch.setattr(importer, "write_spec_file", raced)
    assert run(hub, str(ORCA)) == 1
    assert "nothing was imported" in capsys.readouterr().err
    assert written(hub) == []
