"""Spec files on disk: the name check behind every path, the listing, and the stat-keyed cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.model.specfiles import BadName, FileCache, signature, spec_names, spec_path


@pytest.mark.parametrize("name", ["../x", "a/b", "A", "a", "x" * 42, "", "a b", "ab\n", ".hidden"])
def test_names_are_checked_before_any_path(tmp_path: Path, name: str) -> None:
    with pytest.raises(BadName):
        spec_path(tmp_path, name)


def test_spec_path(tmp_path: Path) -> None:
    assert spec_path(tmp_path, "alpha") == tmp_path / "alpha.yaml"


def test_spec_names_skip_files_that_are_not_specs(tmp_path: Path) -> None:
    for name in ("good.yaml", "Bad.yaml", "x.yml", ".hidden.yaml", "other-1.yaml"):
        (tmp_path / name).write_text("")
    (tmp_path / ".approvals").mkdir()
    assert spec_names(tmp_path) == ["good", "other-1"]
    assert spec_names(tmp_path / "missing") == []
    assert spec_names(tmp_path / "good.yaml") == []  # a file where the folder should be


def test_spec_names_skip_what_the_engine_copy_let_through(tmp_path: Path) -> None:
    # The engine's old listing used a glob and `re.match`: it took a stem with a trailing newline
    # (`$` matches before it) as a cluster.
    (tmp_path / "ab\n.yaml").write_text("")
    (tmp_path / "zeta.yaml").write_text("")
    (tmp_path / "alpha.yaml").write_text("")
    assert spec_names(tmp_path) == ["alpha", "zeta"]


def test_spec_names_list_what_is_named_like_a_spec_but_is_no_file(tmp_path: Path) -> None:
    # A folder, a link or a pipe named like a spec is listed, to be refused with its reason when
    # read (the cluster shows "specs/x.yaml is a directory ..."), rather than silently left out.
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "link.yaml").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "pipe.yaml")
    assert spec_names(tmp_path) == ["folder", "link", "pipe"]


def test_signature_changes_on_replace_even_with_same_mtime_and_size(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("one")
    before = signature(path)
    st = path.stat()
    other = tmp_path / ".a.tmp"
    other.write_text("two")
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)
    assert before is not None and signature(path) not in (None, before)
    assert signature(tmp_path / "missing") is None
    assert signature(path / "under-a-file") is None


def test_file_cache_parses_once_per_version(tmp_path: Path) -> None:
    calls: list[Path] = []

    def parse(p: Path) -> str:
        calls.append(p)
        return p.read_text()

    cache: FileCache[str] = FileCache(parse)
    path = tmp_path / "a.yaml"
    assert cache.get(path) == (None, None)
    path.write_text("one")
    sig, value = cache.get(path)
    assert value == "one" and sig == signature(path)
    assert cache.get(str(path)) == (sig, "one")
    assert len(calls) == 1
    path.write_text("second")
    assert cache.get(path)[1] == "second"
    assert len(calls) == 2
    path.unlink()
    assert cache.get(path) == (None, None)
    assert cache.entries == {}
