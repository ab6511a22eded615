"""The one safe reader (reconciler/model/files.py) and the records read through it: links, pipes,
devices, folders and oversized files are refused with a reason, never followed, blocked on or read
whole; unreadable records are typed errors the engine can keep aside."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path

import pytest

from reconciler.model import approvals, runs, secrets
from reconciler.model.files import FileRefused, UnreadableFile, read_regular, read_tail, set_aside
from reconciler.model.spec import MAX_SPEC_BYTES, SpecError
from reconciler.model.specfiles import read_spec_file, signature, write_spec_file
from reconciler.model.status import Phase, Reason, Status, known_clusters, read_status, write_status

T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def test_a_regular_file_is_read_up_to_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"x" * 10)
    assert read_regular(path, 10) == b"x" * 10
    with pytest.raises(FileRefused, match="larger than 9 bytes"):
        read_regular(path, 9)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing", 10)
    with pytest.raises(FileNotFoundError):
        read_regular(path / "under-a-file", 10)


def test_a_link_is_never_followed_even_to_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("MCHUB_TOKEN=hunter2")
    (tmp_path / "link").symlink_to(target)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for name in ("link", "dangling"):
        with pytest.raises(FileRefused) as caught:
            read_regular(tmp_path / name, 1000, f"specs/{name}.yaml")
        assert str(caught.value) == f"specs/{name}.yaml is a symbolic link; the hub reads regular files only"
        assert "hunter2" not in str(caught.value)


def test_dev_zero_a_pipe_and_a_folder_are_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # no writer: a blocking open would wait forever
    (tmp_path / "folder").mkdir()
    done: list[str] = []

    def attempt() -> None:
        for path, what in (("/dev/zero", "a device"), (tmp_path / "pipe", "a named pipe"),
                           (tmp_path / "folder", "a directory")):  # fmt: skip
            with pytest.raises(FileRefused, match=what):
                read_regular(path, 1024)
            done.append(what)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert done == ["a device", "a named pipe", "a directory"]


def test_a_tail_reads_the_end_of_a_regular_file_only(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(b"a" * 100 + b"END")
    assert read_tail(log, 5) == b"aaEND"
    (tmp_path / "link.log").symlink_to(log)
    with pytest.raises(FileRefused, match="symbolic link"):
        read_tail(tmp_path / "link.log", 5)
    with pytest.raises(FileRefused, match="device"):
        read_tail("/dev/zero", 5)


def test_set_aside_renames_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    path.write_text("{broken")
    first = set_aside(path, T0)
    path.write_text("{broken again")
    second = set_aside(path, T0)
    assert first.name == "status.json.broken-20261127T120000Z"
    assert second.name == "status.json.broken-20261127T120000Z-2"
    assert first.read_text() == "{broken" and second.read_text() == "{broken again"
    assert not path.exists()


def test_a_spec_that_is_a_link_is_never_read(tmp_path: Path) -> None:
    environ = tmp_path / "environ"
    environ.write_text("MCHUB_TOKEN=hunter2\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "x.yaml").symlink_to(environ)
    with pytest.raises(SpecError) as caught:
        read_spec_file(tmp_path / "specs" / "x.yaml")
    assert str(caught.value).startswith("specs/x.yaml is a symbolic link; the hub reads regular files only")
    assert "hunter2" not in str(caught.value)


def test_a_spec_larger_than_the_parser_limit_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_bytes(b"#" * (MAX_SPEC_BYTES + 1))
    with pytest.raises(SpecError, match=f"larger than {MAX_SPEC_BYTES} bytes"):
        read_spec_file(tmp_path / "big.yaml")
    (tmp_path / "fits.yaml").write_bytes(b"#" * MAX_SPEC_BYTES)
    assert len(read_spec_file(tmp_path / "fits.yaml")) == MAX_SPEC_BYTES


def test_writing_over_a_spec_that_is_a_link_is_refused_and_copies_nothing(tmp_path: Path) -> None:
    target = tmp_path / "clouds.yaml"
    target.write_text("password: hunter2\n")
    specs = tmp_path / "specs"
    specs.mkdir()
    link = specs / "x.yaml"
    link.symlink_to(target)
    with pytest.raises(SpecError, match="symbolic link"):
        write_spec_file(link, lambda text: (text or "") + "ensure: absent\n")
    assert link.is_symlink() and target.read_text() == "password: hunter2\n"
    with pytest.raises(SpecError, match="symbolic link"):  # whatever version the caller names
        write_spec_file(link, lambda text: "x", expected=["*"])
    assert sorted(p.name for p in specs.iterdir()) == ["x.yaml"]


def test_a_signature_is_the_links_own(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.write_text("one")
    (tmp_path / "l").symlink_to(target)
    assert signature(tmp_path / "l") != signature(target)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert signature(tmp_path / "dangling") is not None  # listed, to be refused with its reason


def test_an_unreadable_status_is_a_typed_error_naming_the_file(tmp_path: Path) -> None:
    write_status(tmp_path, Status(name="ok", phase=Phase.BUILD_SUCCESS, updated_at=T0))
    (tmp_path / "bad").mkdir()
    for blob, why in ((b"{", "Invalid JSON"), (b'{"name": "bad", "phase": "exploded"}', "phase"),
                      (b"\xff\xfe", "Invalid JSON"), (b"[]", "object")):  # fmt: skip
        (tmp_path / "bad" / "status.json").write_bytes(blob)
        with pytest.raises(UnreadableFile, match=why) as caught:
            read_status(tmp_path, "bad")
        shown = f"{tmp_path.name}/bad/status.json"
        assert str(caught.value).startswith(f"{shown} is not a status this hub can read")
    (tmp_path / "bad" / "status.json").unlink()
    (tmp_path / "bad" / "status.json").symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match="symbolic link"):
        read_status(tmp_path, "bad")
    assert read_status(tmp_path, "ok") is not None and read_status(tmp_path, "none") is None
    assert known_clusters(tmp_path) == ["bad", "ok"]  # an unreadable status is a cluster to show


def test_a_cluster_folder_that_is_a_link_is_not_a_cluster(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    write_status(elsewhere, Status(name="real", updated_at=T0))
    clusters = tmp_path / "clusters"
    clusters.mkdir()
    (clusters / "linked").symlink_to(elsewhere / "real")
    assert known_clusters(clusters) == []


def test_unreadable_run_records_are_skipped_then_kept_aside(tmp_path: Path) -> None:
    good = runs.RunRecord(id="20261127T120000Z-build-aa", cluster="hpc", action="build", reason="new_spec",
                          spec_hash=None, started_at=T0, hub_pid=1)  # fmt: skip
    runs.write_record(tmp_path, good)
    folder = runs.runs_dir(tmp_path, "hpc")
    (folder / "20261127T130000Z-build-bb.json").write_text("{not json")
    (folder / "20261127T140000Z-build-cc.json").symlink_to("/dev/zero")
    assert [r.id for r in runs.list_records(tmp_path, "hpc")] == [good.id]
    assert runs.read_record(tmp_path, "hpc", "20261127T130000Z-build-bb") is None
    moved = runs.set_aside_broken(tmp_path, "hpc", T0)
    assert sorted(p.name for p in moved) == [
        "20261127T130000Z-build-bb.json.broken-20261127T120000Z",
        "20261127T140000Z-build-cc.json.broken-20261127T120000Z",
    ]
    assert [r.id for r in runs.list_records(tmp_path, "hpc")] == [good.id]


def test_a_run_log_is_never_written_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("keep")
    runs.runs_dir(tmp_path, "hpc").mkdir(parents=True)
    runs.log_path(tmp_path, "hpc", "r1").symlink_to(target)
    with pytest.raises(OSError):
        runs.open_log(tmp_path, "hpc", "r1")
    assert target.read_text() == "keep"


def test_an_unreadable_approval_is_a_typed_error(tmp_path: Path) -> None:
    path = approvals.approval_path(tmp_path, "hpc")
    path.parent.mkdir()
    assert approvals.read_approval(tmp_path, "hpc") is None
    path.write_text("{")
    with pytest.raises(UnreadableFile, match="specs/.approvals/hpc.json|.approvals/hpc.json"):
        approvals.read_approval(tmp_path, "hpc")
    path.unlink()
    path.symlink_to("/dev/zero")
    with pytest.raises(FileRefused):
        approvals.read_approval(tmp_path, "hpc")


def test_a_broken_secrets_file_is_never_silently_replaced(tmp_path: Path) -> None:
    path = secrets.secrets_path(tmp_path, "hpc")
    path.parent.mkdir()
    path.write_text('{"guest_passwd": "old-but-valid"')  # truncated by hand
    with pytest.raises(UnreadableFile, match="not valid JSON"):
        secrets.guest_password(tmp_path, "hpc", None)
    assert path.read_text() == '{"guest_passwd": "old-but-valid"'  # not replaced by a new password
    assert secrets.stored_guest_password(tmp_path, "hpc") is None  # the web view shows none
    path.write_text(json.dumps({"guest_passwd": "kept"}))
    assert secrets.guest_password(tmp_path, "hpc", None) == "kept"


def test_transitions_for_broken_state_and_interruptions() -> None:
    built = Status(name="hpc", phase=Phase.BUILD_RUNNING, applied_hash="h0", resources=["a"], updated_at=T0)
    stopped = built.interrupted(T0, "run r1 was interrupted")
    assert (stopped.phase, stopped.reason) == (Phase.PENDING, Reason.INTERRUPTED)
    assert stopped.failures == 0 and stopped.resources == ["a"] and stopped.next_attempt_at == T0
    lost = Status(name="hpc").unreadable(T0, "clusters/hpc/status.json ...", "h1")
    assert (lost.phase, lost.reason, lost.failures) == (Phase.PLAN_ERROR, Reason.STATUS_UNREADABLE, 1)
    assert lost.next_attempt_at is None and lost.observed_hash == "h1"


def test_mchub_validate_never_reads_through_a_link(tmp_path: Path) -> None:
    """`load_spec` (mchub validate, render, the catalog) refuses a link, even to a valid spec."""
    from reconciler.model.spec import SpecError, load_spec

    real = tmp_path / "real.yaml"
    real.write_text("cluster_name: demo\n")
    (tmp_path / "demo.yaml").symlink_to(real)
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    for name in ("demo.yaml", "zero.yaml"):
        with pytest.raises(SpecError, match="symbolic link"):
            load_spec(tmp_path / name)


def test_terraform_state_and_lock_notes_behind_links_are_not_read(tmp_path: Path) -> None:
    from reconciler.cloud.sizing import state_usage
    from reconciler.terraform.lock import lock_info, lock_is_held

    workdir = tmp_path / "c1"
    workdir.mkdir()
    secret = tmp_path / "secret.json"
    secret.write_text('{"ID": "leak", "version": 4, "resources": []}')
    (workdir / ".terraform.tfstate.lock.info").symlink_to(secret)
    (workdir / "terraform.tfstate").symlink_to(secret)
    assert lock_info(workdir) is None
    assert lock_is_held(workdir) is False
    assert state_usage(tmp_path, "c1", []) == state_usage(tmp_path, "none", [])  # nothing counted
