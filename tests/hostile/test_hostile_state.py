"""Property-based fuzzing of the state the hub reads besides specs: the target's `status.json`,
`secrets.json`, a run record and its log, its approval and retry request, each made random bytes,
random JSON, a link (to another cluster's secrets, to a fake `/proc/self/environ`, to `/dev/zero`),
a pipe or a folder. Read by the web view (pages, API, logs, the password on demand, approve, retry)
and by the real engine (`reconcile`, which keeps a file it cannot use aside). Each step within 2 s,
no 5xx, no exception out of the engine, no secret shown or logged, no other cluster's files changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostilefigures import count, examples
from hostilegen import json_values
from hostileworld import World, remove
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
RUN = "20261130T000000Z-build-ffffff"
FILES = {
    "status": "clusters/target/status.json", "secrets": "clusters/target/secrets.json",
    "run record": f"clusters/target/runs/{RUN}.json", "run log": f"clusters/target/runs/{RUN}.log",
    "approval": "specs/.approvals/target.json", "retry": "specs/.retries/target.json",
}  # fmt: skip
READS = (
    "/", "/api/clusters", "/api/clusters/target", "/api/clusters/target/status", "/api/clusters/target/logs",
    f"/api/clusters/target/logs?run={RUN}", f"/clusters/target/runs/{RUN}/log", "/clusters/target",
    "/partials/clusters/target", "/metrics",
)  # fmt: skip
SPECIAL = ("bystander secrets", "environ", "dev zero", "pipe", "folder")
contents = st.one_of(
    st.binary(max_size=3000),
    json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
    st.fixed_dictionaries({"name": st.just("target"), "phase": st.sampled_from(["build_success", "exploded"]),
                           "plan_id": json_values, "guest_passwd": json_values, "at": json_values})
    .map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
    st.sampled_from(SPECIAL),
)  # fmt: skip


def put(world: World, path: Path, content: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove(path)
    links = {"bystander secrets": world.clusters / "bystander/secrets.json",
             "environ": world.outside / "environ", "dev zero": Path("/dev/zero")}  # fmt: skip
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content in links:
        path.symlink_to(links[content])
    elif content == "pipe":
        os.mkfifo(path)
    else:
        path.mkdir()


@settings(max_examples=examples(60), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(broken=st.dictionaries(st.sampled_from(sorted(FILES)), contents, min_size=1, max_size=3),
       phase=st.sampled_from(["build_error", "awaiting_approval", "build_success"]))  # fmt: skip
def test_broken_state_is_shown_as_an_error_in_time_and_leaks_nothing(
    world: World, broken: dict[str, bytes | str], phase: str
) -> None:
    with world.case(phase):
        for what, content in broken.items():
            put(world, world.root / FILES[what], content)
        for url in READS:
            world.call("GET", url)
        world.call("POST", "/clusters/target/password", headers={"X-CSRF-Token": world.csrf},
                   allow=("target password",))  # fmt: skip
        for action, body in (("approve", {"plan_id": "plan-1234"}), ("retry", {})):
            world.call("POST", f"/api/clusters/target/{action}", json=body, headers=world.bearer)
        outcome = world.reconcile()
        world.call("GET", "/api/clusters/target/status")
        for what in broken:
            count(f"broken {what}")
        count("broken state (engine: " + outcome.status.phase.value + ")")
