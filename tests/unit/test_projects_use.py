"""Projects where specs are read and written (issue 14): the sudoer and SSH keys a new cluster's form
takes from the login, the form's and API's project check (the caller's choices named), which cloud
`?project=` / `--project` means, and `mchub validate` / `mchub status --project`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.cloud.payload import project_cloud
from reconciler.entry.cli import main
from reconciler.model.projects import Project
from reconciler.model.spec import FieldError
from webview.forms import identity_keys, project_errors, sudoer_name

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI t@x"
NOT_OURS = "is not a project of this hub; choose one of"
ARBUTUS = "leave cloud out, or set it to arbutus"
PROJECTS = {
    "physics": Project("physics", "arbutus", ("alice",)),
    "chemistry": Project("chemistry", "chem", ("bob",)),
}


@pytest.mark.parametrize(
    ("user", "sudoer"),
    [
        ("alice", "alice"),
        ("Alice.Martin@uni.example", "alicemartin"),  # an eduPersonPrincipalName: its local part
        ("jean-luc_p", "jean-luc_p"),
        ("1234@uni.example", "centos"),  # a user name may not start with a digit
        ("élise", "lise"),  # letters the pattern refuses are left out
        ("root", "centos"),  # never a system account
        ("@@@", "centos"),
        ("a" * 40, "a" * 32),  # Magic Castle's pattern: at most 32
    ],
)
def test_the_sudoer_comes_from_the_user_id_when_it_fits(user: str, sudoer: str) -> None:
    assert sudoer_name(user) == sudoer


def test_only_keys_the_spec_accepts_are_offered() -> None:
    assert identity_keys([KEY, "not a key", KEY, " "]) == KEY
    assert identity_keys([]) == ""


@pytest.mark.parametrize(
    ("project", "cloud", "mine", "errors"),
    [
        ("physics", None, ("physics",), []),
        ("physics", "arbutus", ("physics",), []),
        (None, None, ("physics",), [("project", "required on this hub; choose one of physics")]),
        (None, None, None, [("project", "required on this hub; choose one of chemistry, physics")]),
        ("biology", None, ("physics",), [("project", f'"biology" {NOT_OURS} physics')]),
        ("chemistry", None, ("physics",), []),  # the hub's, not theirs: a 403 (authz), not a 422
        ("physics", "chem", None, [("cloud", f"project physics runs on cloud arbutus; {ARBUTUS}")]),
        (None, None, (), []),  # in no project: authz answers 403
    ],
)  # fmt: skip
def test_the_web_project_check_names_the_callers_choices(
    project: str | None, cloud: str | None, mine: tuple[str, ...] | None, errors: list[tuple[str, str]]
) -> None:
    assert project_errors(project, cloud, PROJECTS, mine) == [
        FieldError(path=p, message=m) for p, m in errors
    ]


def test_without_projects_nothing_is_checked() -> None:
    assert project_errors(None, "anything", {}, None) == []
    assert project_errors("physics", None, {}, ()) == []


def test_a_projects_figures_are_its_clouds() -> None:
    assert project_cloud(PROJECTS, "chemistry") == "chem"
    assert project_cloud(PROJECTS, "chemistry", "chem") == "chem"
    with pytest.raises(ValueError, match="choose one of chemistry, physics"):
        project_cloud(PROJECTS, "biology")
    with pytest.raises(ValueError, match="runs on cloud chem; leave cloud out"):
        project_cloud(PROJECTS, "chemistry", "arbutus")
    with pytest.raises(ValueError, match="this hub has no projects"):
        project_cloud({}, "physics")


@pytest.fixture
def hub_files(tmp_path: Path) -> Path:
    settings = {
        "clouds": {"arbutus": {}, "chem": {}},
        "projects": {"physics": {"cloud": "arbutus", "members": ["alice"]}, "chemistry": {"cloud": "chem"}},
    }
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    specs = tmp_path / "specs"
    specs.mkdir()
    base = yaml.safe_load((Path(__file__).parents[2] / "specs" / "demo.yaml").read_text())
    for name, project in (("one", "physics"), ("two", "chemistry"), ("three", None), ("four", "biology")):
        data = {**base, "cluster_name": name}
        data.pop("cloud", None)
        if project:
            data["project"] = project
        (specs / f"{name}.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


def test_validate_checks_the_project_as_the_hub_reads_it(
    hub_files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = hub_files / "specs"
    args = ["--settings", str(hub_files / "settings.yaml"), "validate"]
    assert main([*args, str(specs / "one.yaml"), str(specs / "two.yaml")]) == 0
    assert main([*args, str(specs / "three.yaml"), str(specs / "four.yaml")]) == 1
    err = capsys.readouterr().err
    assert "three.yaml: project: required on this hub; choose one of chemistry, physics" in err
    assert (
        'four.yaml: project: "biology" is not a project of this hub; choose one of chemistry, physics' in err
    )


def test_status_lists_one_projects_clusters(hub_files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--settings", str(hub_files / "settings.yaml"), "status", "--specs", str(hub_files / "specs"),
            "--clusters", str(hub_files / "clusters")]  # fmt: skip
    main([*base, "--project", "physics"])
    out = capsys.readouterr().out
    assert "\none " in out and "two" not in out and "three" not in out
    assert main([*base, "--project", "biology"]) == 2
    assert "choose one of chemistry, physics" in capsys.readouterr().err
