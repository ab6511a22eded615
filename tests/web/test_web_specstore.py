"""The spec store (atomic write + git commit as the user) and the form <-> spec mapping."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from webfakes import spec_dict

from reconciler.model.spec import FieldError, SpecError, parse_spec
from webview import forms, specstore


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout


def test_write_outside_git_just_writes(tmp_path: Path) -> None:
    spec = parse_spec(spec_dict("alpha"))
    path = specstore.write_spec(tmp_path, spec, "bob", "Create")
    assert path == tmp_path / "alpha.yaml"
    assert parse_spec(__import__("yaml").safe_load(path.read_text())) == spec
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".alpha")]  # no temp file left


def test_write_commits_only_the_spec_as_the_user(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    specs = repo / "specs"
    specs.mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "other.txt").write_text("staged by someone else\n")
    git(repo, "add", "other.txt")
    specstore.write_spec(specs, parse_spec(spec_dict("alpha")), "Alice Liddell", "Create")
    assert (
        git(repo, "log", "--format=%an <%ae>|%s").strip()
        == "Alice Liddell <Alice-Liddell@mchub.invalid>|Create cluster alpha (web view)"
    )
    assert git(repo, "show", "--name-only", "--format=").split() == ["specs/alpha.yaml"]
    assert "other.txt" in git(repo, "diff", "--cached", "--name-only")  # still staged, not committed
    specstore.mark_absent(specs, "alpha", "Alice Liddell")
    assert git(repo, "log", "-1", "--format=%s").strip() == "Destroy cluster alpha (web view: ensure absent)"


def test_unchanged_spec_makes_no_commit(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    spec = parse_spec(spec_dict("alpha"))
    specstore.write_spec(tmp_path, spec, "bob", "Create")
    specstore.write_spec(tmp_path, spec, "bob", "Update")
    assert len(git(tmp_path, "log", "--format=%s").splitlines()) == 1


def test_a_failing_git_never_fails_the_write(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    git(tmp_path, "init", "-q")
    hook = tmp_path / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho refused by hook >&2\nexit 1\n")
    hook.chmod(0o755)
    path = specstore.write_spec(tmp_path, parse_spec(spec_dict("alpha")), "bob", "Create")
    assert path.exists()
    assert "refused by hook" in caplog.text


def test_git_missing_from_path_is_tolerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert specstore.commit(tmp_path / "alpha.yaml", "bob", "x") is False


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("alice@example.org", ("alice@example.org", "alice@example.org")),
        ("mchub-user", ("mchub-user", "mchub-user@mchub.invalid")),
        ("Evil <x@y>\nname", ("Evil x@y name", "Evil-x-y-name@mchub.invalid")),
        ("", ("local user", "local-user@mchub.invalid")),
    ],
)
def test_author(user: str, expected: tuple[str, str]) -> None:
    assert specstore.author(user) == expected


# -- form <-> spec ---------------------------------------------------------------------------


def test_spec_round_trips_through_the_form() -> None:
    spec = parse_spec(
        spec_dict(
            "alpha", nb_users=3, hieradata="a: 1\n", apply="manual", expires="2027-01-31", cloud="sandbox"
        )
    )
    view = forms.form_from_data(spec.canonical())
    posted = {**view.values}
    for i, row in enumerate(view.instances):
        posted.update({f"inst-{i}-{k}": v for k, v in row.items()})
    for j, row in enumerate(view.volumes):
        posted.update({f"vol-{j}-{k}": v for k, v in row.items()})
    again = parse_spec(forms.spec_data(forms.form_from_post(posted)))
    assert again == spec


def test_form_rows_are_read_in_index_order_and_blank_rows_skipped() -> None:
    posted = {
        "cluster_name": "a1",
        "inst-10-prefix": "node",
        "inst-10-type": "x",
        "inst-10-tags": "node",
        "inst-2-prefix": "mgmt",
        "inst-2-type": "y",
        "inst-2-tags": "mgmt, nfs",
        "inst-3-prefix": "",
        "inst-3-type": "y",
        "inst-3-count": "1",
        "inst-3-tags": "",
        "vol-0-tag": "nfs",
        "vol-0-name": "",
        "vol-0-size": "",
        "inst-1-bogus": "z",
    }
    view = forms.form_from_post(posted)
    assert [r["prefix"] for r in view.instances] == ["mgmt", "node"]
    assert view.volumes == []
    assert forms.spec_data(view)["instances"]["mgmt"]["tags"] == ["mgmt", "nfs"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("cluster_name", "cluster_name"),
        ("public_keys.0", "public_keys"),
        ("instances.node.count", "inst-1-count"),
        ("instances.node", "inst-1-prefix"),
        ("instances.node.tags.2", "inst-1-tags"),
        ("instances.no", None),
        ("instances", None),
        ("volumes.nfs.home.size", "vol-0-size"),
        ("volumes.nfs.home", "vol-0-name"),
        ("volumes.nfs", "vol-0-tag"),
        ("volumes.gpu", None),
        ("#inst-0-prefix", "inst-0-prefix"),
        ("", None),
    ],
)
def test_error_paths_map_to_inputs(path: str, field: str | None) -> None:
    view = forms.FormView({}, [{"prefix": "no-de"}, {"prefix": "node"}], [{"tag": "nfs", "name": "home"}])
    assert forms.input_for(path, view) == field


def test_errors_without_an_input_go_on_top() -> None:
    view = forms.FormView({}, [], [])
    forms.with_errors(
        view,
        [FieldError(path="instances", message="at most one proxy"), FieldError(path="domain", message="bad")],
    )
    assert view.general == ["instances: at most one proxy"] and view.errors == {"domain": ["bad"]}


def test_form_only_problems_are_spec_errors() -> None:
    view = forms.form_from_post(
        {
            "inst-0-prefix": "a",
            "inst-0-tags": "node",
            "inst-1-prefix": "a",
            "inst-1-tags": "node",
            "vol-0-tag": "",
            "vol-0-name": "x",
        }
    )
    with pytest.raises(SpecError) as err:
        forms.spec_data(view)
    assert [e.path for e in err.value.errors] == ["#inst-1-prefix", "#vol-0-tag"]


def test_home_public_key(tmp_path: Path) -> None:
    assert forms.home_public_key(tmp_path) == ""
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_rsa.pub").write_text("garbage\n")
    assert forms.home_public_key(tmp_path) == ""
    key = spec_dict()["public_keys"][0]
    (tmp_path / ".ssh" / "id_ed25519.pub").write_text(key + "\n")
    assert forms.home_public_key(tmp_path) == key


def test_free_name() -> None:
    assert forms.free_name([]) == "cluster1"
    assert forms.free_name(["cluster1", "cluster2", "x"]) == "cluster3"


def test_umask_does_not_leak_into_spec_mode(tmp_path: Path) -> None:
    path = specstore.write_spec(tmp_path, parse_spec(spec_dict("alpha")), "bob", "Create")
    assert os.stat(path).st_mode & 0o777 == 0o644
