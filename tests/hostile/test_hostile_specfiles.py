"""Property-based fuzzing of what `specs/target.yaml` can be: random bytes, random YAML, a hostile
spec with a password written by hand in any YAML style, a byte order mark, UTF-16, broken UTF-8, the
size limit and one byte past it; or not a file at all: links to a fake `/proc/self/environ`, to the
real one, to another cluster's secrets.json or spec, to `/dev/zero`, dangling or looping links, a
pipe, a socket, a device, folders named like a spec. Read by the web view (dashboard, cluster page,
edit form, API, the password on demand) and by the real engine (`reconcile`, on a hub whose Terraform
binary does not exist), then written over (PUT, preview, the edit form as shown, DELETE, destroy).
Each step within 2 s, no 5xx, no secret shown, logged or copied under `clusters/target/`, nothing
written through a link, no other cluster's files changed."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hostilefigures import count, examples
from hostilegen import strings
from hostiletexts import spec_texts
from hostileworld import World, describe, remove
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from webfakes import spec_dict
from webhelpers import form_fields

from reconciler.model.status import Phase

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
FUZZ = settings(
    max_examples=examples(60),
    deadline=None,  # timed by World.call and World.reconcile: 2 s per step
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
PHASES = st.sampled_from(["build_success", "build_error", "awaiting_approval", "invalid", None])
READS = (
    "/", "/partials/dashboard", "/api/clusters", "/api/clusters/target", "/api/clusters/target/status",
    "/api/clusters/target/logs", "/clusters/target", "/clusters/target/edit", "/partials/clusters/target",
    "/metrics", "/api/resources?cluster=target",
)  # fmt: skip
KINDS = (
    "environ", "environ, relative", "proc environ", "bystander secrets", "bystander spec", "ghost status",
    "dev zero", "dangling", "loop", "folder link", "pipe", "folder", "folder with a spec", "socket", "device",
)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def bounded_memory() -> Iterator[None]:
    """A read past the size limit fails with MemoryError here, instead of taking the machine."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = 6 * 1024**3
    resource.setrlimit(
        resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard)
    )
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def place(world: World, path: Path, kind: str) -> None:
    """Make `path` the kind of entry named (never a regular file)."""
    links = {
        "environ": world.outside / "environ", "environ, relative": Path("../outside/environ"),
        "proc environ": Path("/proc/self/environ"),
        "bystander secrets": world.clusters / "bystander/secrets.json",
        "bystander spec": Path("bystander.yaml"), "ghost status": world.clusters / "ghost/status.json",
        "dev zero": Path("/dev/zero"), "dangling": world.root / "nothing-here", "loop": Path(path.name),
        "folder link": world.outside,
    }  # fmt: skip
    if kind in links:
        path.symlink_to(links[kind])
    elif kind == "pipe":
        os.mkfifo(path)  # nobody writes it: a reader that waits for data waits forever
    elif kind.startswith("folder"):
        path.mkdir()
        if kind == "folder with a spec":
            (path / "target.yaml").write_bytes(world.target_spec)
    elif kind == "socket":
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))
    else:
        try:  # /dev/zero's own numbers, named like a spec (needs CAP_MKNOD)
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
        except PermissionError:
            path.symlink_to("/dev/zero")


def read_everything(world: World) -> None:
    for url in READS:
        world.call("GET", url)
    headers = {"X-CSRF-Token": world.csrf}  # the guest password on demand: the target's own only
    world.call("POST", "/clusters/target/password", headers=headers, allow=("target password",))


def write_over(world: World, put_back: Callable[[], object] = lambda: None) -> list[int]:
    """Every way to write over the target's spec, each on the hostile entry as it was placed
    (`put_back` places it again after a write that replaced it)."""
    spec, form = spec_dict("target"), {"Content-Type": "application/x-www-form-urlencoded"}
    api = {**world.bearer, "If-Match": "*"}
    page = world.call("GET", "/clusters/target/edit")
    fields = form_fields(page.text) if page.status_code == 200 else {"csrf_token": world.csrf}
    writes = [
        ("PUT", "/api/clusters/target", {"json": spec, "headers": api}),
        ("POST", "/api/clusters/target/preview", {"json": spec, "headers": api}),
        ("POST", "/clusters/target/edit", {"data": fields, "headers": form}),
        ("DELETE", "/api/clusters/target", {"headers": world.bearer}),
        ("POST", "/clusters/target/destroy", {"data": {"csrf_token": world.csrf, "confirm": "target"}}),
    ]  # fmt: skip
    answers = []
    for method, url, kw in writes:
        put_back()
        answers.append(world.call(method, url, **kw).status_code)
    return answers


@FUZZ
@given(data=st.data(), phase=PHASES)
def test_a_hostile_spec_file_is_read_and_written_over_in_time_and_leaks_nothing(
    world: World, data: st.DataObject, phase: str | None
) -> None:
    content = data.draw(spec_texts(world.target_password), label="content")
    path = world.specs / "target.yaml"
    with world.case(phase):
        path.write_bytes(content)
        outcome = world.reconcile()
        read_everything(world)
        for status in write_over(world, lambda: path.write_bytes(content)):
            count("spec file content: writes", status)
        count(f"spec file content (engine: {outcome.status.phase.value})")


def _file_name(name: str) -> bool:
    """A name a file can have (any bytes but / and NUL; str as the OS hands it back) and none of
    the world's own."""
    try:
        os.fsencode(name)
    except UnicodeError:
        return False
    return (
        "/" not in name
        and "\x00" not in name
        and name.split(".")[0] not in ("bystander", "ghost", "target", "")
    )


# Names of other entries in specs/: odd text, or bytes that are not UTF-8 (shown as surrogate escapes).
odd_names = (
    st.one_of(strings, st.binary(min_size=1, max_size=40).map(os.fsdecode))
    .filter(_file_name)
    .map(lambda n: n[:200] + ".yaml")
)


def _every_kind(test: Callable[..., None]) -> Callable[..., None]:
    """Each kind of entry at least once, whatever hypothesis draws besides."""
    for kind in KINDS:
        test = example(kind=kind, phase="build_success", extra=None)(test)
    return test


@FUZZ
@_every_kind
@given(kind=st.sampled_from(KINDS), phase=PHASES,
       extra=st.one_of(st.none(), st.tuples(odd_names, st.sampled_from(KINDS))))  # fmt: skip
def test_a_spec_that_is_not_a_file_is_refused_never_followed_and_never_written_through(
    world: World, kind: str, phase: str | None, extra: tuple[str, str] | None
) -> None:
    path = world.specs / "target.yaml"
    with world.case(phase):
        remove(path)
        place(world, path, kind)
        if extra is not None:
            with contextlib.suppress(OSError):  # a name the file system refuses (too long, ...)
                place(world, world.specs / extra[0], extra[1])
        placed = describe(path)
        outcome = world.reconcile()
        assert outcome.status.phase == Phase.INVALID, outcome.status
        read_everything(world)
        assert world.call("GET", "/api/clusters/target").json()["spec_yaml"] in ("", None)
        for status in write_over(world):
            count("spec not a file: writes", status)
        assert describe(path) == placed, "a write went through, or replaced, what is not a spec file"
        count(f"spec not a file ({kind})")
