"""The hub's clone of the specs' git remote (reconciler/gitsync), on real git and a real bare
repository: what people push reaches each hub, each hub's commits reach the remote even when hubs
push at once, a real conflict loses nothing and says so, a folder that is not the clone stops the
hub with words naming it, and a credential in the URL shows up nowhere."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from gitremote import Person, bare_remote, git, hub_settings, remote_branches, remote_file, remote_log

from reconciler.gitsync.clone import CloneError
from reconciler.gitsync.git import GitMissing, redact
from reconciler.gitsync.remote import SpecsRemote

ALPHA = "cluster_name: alpha\nnb_users: 5\n"


def hub(root: Path, remote: Path | str, name: str, **more: object) -> SpecsRemote:
    clone = SpecsRemote(hub_settings(root, remote, name, **more))
    clone.prepare()
    return clone


def hub_commit(clone: SpecsRemote, name: str, text: str, who: str = "Alice Web") -> None:
    """What the web view does: write one spec and commit just that file, holding the clone."""
    with clone.writing():
        (clone.repo.dir / name).write_text(text)
        git(clone.repo.dir, "add", name)
        git(
            clone.repo.dir,
            "-c",
            f"user.name={who}",
            "-c",
            "user.email=a@example.org",
            "commit",
            "-qm",
            f"Update {name}",
        )


def wait_for(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_push_by_a_person_reaches_a_hub_when_poked(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path, {"alpha.yaml": ALPHA})
    clone = hub(tmp_path, remote, "hub-b", specs_pull_interval=3600.0)  # only a poke pulls in time
    assert (clone.repo.dir / "alpha.yaml").read_text() == ALPHA
    person = Person(tmp_path / "pat", remote)
    person.write("beta.yaml", "cluster_name: beta\n")
    person.push("add beta")
    clone.start()
    try:
        assert not (clone.repo.dir / "beta.yaml").exists()
        clone.poke()
        assert wait_for(lambda: (clone.repo.dir / "beta.yaml").exists())
    finally:
        clone.stop()
    assert clone.last is not None and clone.last.ok and clone.last.changed == ("beta.yaml",)


def test_two_hubs_saving_different_specs_at_once_both_land(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path, {"alpha.yaml": ALPHA})
    a, b = hub(tmp_path, remote, "hub-a"), hub(tmp_path, remote, "hub-b")
    hub_commit(a, "one.yaml", "cluster_name: one\n", who="Alice")
    hub_commit(b, "two.yaml", "cluster_name: two\n", who="Bob")
    assert a.push().ok
    pushed = b.push()  # refused as non-fast-forward: fetch, rebase its one commit, push again
    assert pushed.ok, pushed.message
    assert remote_file(remote, "one.yaml") == "cluster_name: one\n"
    assert remote_file(remote, "two.yaml") == "cluster_name: two\n"
    authors = [line.split(":")[0] for line in remote_log(remote)]
    assert authors[:2] == ["Bob", "Alice"]  # each commit keeps its person as author
    assert a.pull().changed == ("two.yaml",)


def test_a_conflicting_edit_is_kept_on_a_branch_and_reported(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path, {"alpha.yaml": ALPHA})
    clone = hub(tmp_path, remote, "hub-a")
    person = Person(tmp_path / "pat", remote)
    person.write("alpha.yaml", "cluster_name: alpha\nnb_users: 7\n")
    person.push("seven users")
    hub_commit(clone, "alpha.yaml", "cluster_name: alpha\nnb_users: 9\n")
    pushed = clone.push()
    assert not pushed.ok
    assert "conflict" in pushed.message and "alpha.yaml" in pushed.message
    kept = [b for b in remote_branches(remote) if b.startswith("mchub/conflict-")]
    assert len(kept) == 1 and kept[0] in pushed.message
    assert remote_file(remote, "alpha.yaml", kept[0]) == "cluster_name: alpha\nnb_users: 9\n"  # nothing lost
    assert remote_file(remote, "alpha.yaml") == "cluster_name: alpha\nnb_users: 7\n"
    assert (clone.repo.dir / "alpha.yaml").read_text().endswith("nb_users: 7\n")  # the hub follows the remote
    again = clone.pull()
    assert again.ok and again.message == "up to date"  # not stuck on it


def test_an_existing_clone_is_reused_with_its_unpushed_commits(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path, {"alpha.yaml": ALPHA})
    clone = hub(tmp_path, remote, "hub-a")
    hub_commit(clone, "beta.yaml", "cluster_name: beta\n")  # the hub stopped before it pushed
    again = hub(tmp_path, remote, "hub-a")
    assert again.last is not None and again.last.pushed == 1
    assert remote_file(remote, "beta.yaml") == "cluster_name: beta\n"


def test_the_hubs_requests_are_never_specs(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path, {"alpha.yaml": ALPHA})
    clone = hub(tmp_path, remote, "hub-a")
    for folder in (".approvals", ".retries"):
        (clone.repo.dir / folder).mkdir(exist_ok=True)
        (clone.repo.dir / folder / "alpha.json").write_text("{}")
    assert git(clone.repo.dir, "status", "--porcelain") == ""
    assert hub(tmp_path, remote, "hub-a").last is not None  # no "uncommitted edits" for them


def test_a_folder_of_specs_that_is_not_the_clone_is_refused(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path, {"alpha.yaml": ALPHA})
    specs = tmp_path / "hub-a" / "specs"
    specs.mkdir(parents=True)
    (specs / "mine.yaml").write_text("cluster_name: mine\n")
    with pytest.raises(CloneError, match=rf"specs_dir {specs} already holds files and is not a clone"):
        hub(tmp_path, remote, "hub-a")
    assert (specs / "mine.yaml").exists()


def test_a_clone_of_another_remote_is_refused(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path, {"alpha.yaml": ALPHA})
    other = bare_remote(tmp_path / "elsewhere", {"beta.yaml": "cluster_name: beta\n"})
    hub(tmp_path, other, "hub-a")
    with pytest.raises(CloneError, match="is a clone of .*elsewhere.*, not of specs_remote"):
        hub(tmp_path, remote, "hub-a")


def test_uncommitted_edits_in_the_clone_are_refused(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path, {"alpha.yaml": ALPHA})
    clone = hub(tmp_path, remote, "hub-a")
    (clone.repo.dir / "alpha.yaml").write_text("cluster_name: alpha\nnb_users: 1\n")
    with pytest.raises(CloneError, match=r"has uncommitted edits to specs \(alpha.yaml\)"):
        hub(tmp_path, remote, "hub-a")
    assert (clone.repo.dir / "alpha.yaml").read_text().endswith("nb_users: 1\n")  # untouched


def test_a_new_empty_remote_gets_the_hubs_first_commit(tmp_path: Path) -> None:
    remote = bare_remote(tmp_path)
    clone = hub(tmp_path, remote, "hub-a")
    hub_commit(clone, "alpha.yaml", ALPHA)
    assert clone.push().ok
    assert remote_file(remote, "alpha.yaml") == ALPHA


def test_a_credential_in_the_url_shows_nowhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = "https://alice:s3cret-T0KEN@127.0.0.1:9/specs.git"  # nothing listens on port 9
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CloneError) as raised:
        hub(tmp_path, url, "hub-a")
    assert "s3cret-T0KEN" not in str(raised.value) and "alice:" not in str(raised.value)
    assert "https://***@127.0.0.1:9/specs.git" in str(raised.value)
    # an existing clone whose remote went away: the pull fails, and says so without the token
    remote = bare_remote(tmp_path, {"alpha.yaml": ALPHA})
    clone = hub(tmp_path, remote, "hub-b")
    git(clone.repo.dir, "remote", "set-url", "origin", url)
    clone.url = url
    failed = clone.pull()
    assert not failed.ok and "s3cret-T0KEN" not in failed.message
    assert "s3cret-T0KEN" not in caplog.text
    assert redact("push https://bob:hunter22@git.example.org/x.git failed") == (
        "push https://***@git.example.org/x.git failed"
    )


def test_no_git_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GitMissing, match="git is not installed"):
        hub(tmp_path, tmp_path / "remote.git", "hub-a")
