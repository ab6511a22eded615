"""A spec short of quota waits (issue 13): the pre-flight tells shortfalls from problems that need a
change, the status says what the spec needs against what is free in words, a built cluster keeps its
phase, a run clears the wait, a person may ask to look again at once, and /metrics counts waits."""

from __future__ import annotations

import datetime as dt

import pytest

from reconciler.cloud.figures import Flavor, Image, Quota, Snapshot
from reconciler.cloud.shortfall import Shortfall, wait_message
from reconciler.cloud.sizing import catalog_problems, preflight, shortfalls
from reconciler.engine.metrics import Metrics
from reconciler.model import retries
from reconciler.model.spec import parse_spec
from reconciler.model.status import Phase, QuotaWait, Reason, Status

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI t@x"
SPEC = {
    "cluster_name": "hpc", "domain": "example.org", "image": "Rocky-9", "public_keys": [KEY],
    "instances": {
        "mgmt": {"type": "p4-6gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
        "node": {"type": "p2-3gb", "tags": ["node"], "count": 2},
    },
}  # fmt: skip
FLAVORS = (Flavor("p2-3gb", 2, 3072, 20), Flavor("p4-6gb", 4, 6144, 20))
WAIT = QuotaWait(needs={"cores": 8}, free={"cores": 4}, checked_at=NOW)


def snapshot(**quotas: Quota) -> Snapshot:
    return Snapshot("sandbox", 0.0, flavors=FLAVORS, images=(Image("Rocky-9"),), quotas=quotas)


def test_shortfalls_are_told_apart_from_problems_that_need_a_change() -> None:
    spec = parse_spec({**SPEC, "instances": {**SPEC["instances"], "gpu": {"type": "g9", "tags": ["node"]}}})
    snap = snapshot(cores=Quota(8, 4), instances=Quota(10, 0))
    assert catalog_problems(spec, snap) == [
        'instances.gpu.type: flavor "g9" does not exist; choose one of p2-3gb, p4-6gb'
    ]
    assert shortfalls(spec, snap) == [Shortfall("cores", 8, 4, 8)]  # the unknown flavor adds no cores
    assert preflight(spec, snap)[-1] == "cores: needs 8, 4 remaining of 8"  # the terse lines, as before


def test_the_wait_in_words() -> None:
    few = [Shortfall("cores", 8, 4, 8)]
    assert wait_message(few, built=False) == (
        "Waiting for quota: needs 4 more vCPUs (8 needed, 4 free). It builds by itself once there is room."
    )
    many = [Shortfall("ram", 12288, 10240, 16384), Shortfall("floating_ips", 2, 1, 1),
            Shortfall("gigabytes_ssd", 100, 50, 50)]  # fmt: skip
    assert wait_message(many, built=True) == (
        "Waiting for quota: the change needs 2 GiB more RAM (12 GiB needed, 10 GiB free), 1 more floating IP "
        "(2 needed, 1 free) and 50 GB more volume storage of type ssd (100 GB needed, 50 GB free). "
        "The cluster keeps running as built; the change applies by itself once there is room."
    )
    assert many[2].line() == "gigabytes_ssd: needs 100 GB, 50 GB remaining of 50 GB (volume type ssd)"


BUILT = {"resources": ['openstack_compute_instance_v2.instances["node1"]'], "applied_hash": "h0"}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Status(name="c"), Phase.PENDING),  # never built
        (Status(name="c", phase=Phase.PLAN_ERROR, failures=2), Phase.PENDING),  # failed, nothing built
        (Status(name="c", phase=Phase.DESTROYED), Phase.PENDING),
        (Status(name="c", phase=Phase.BUILD_SUCCESS, **BUILT), Phase.BUILD_SUCCESS),  # keeps running
        (Status(name="c", phase=Phase.BUILD_ERROR, **BUILT), Phase.BUILD_ERROR),
        (Status(name="c", phase=Phase.INVALID, **BUILT), Phase.BUILD_SUCCESS),  # as last built
        (Status(name="c", phase=Phase.AWAITING_APPROVAL, **BUILT), Phase.BUILD_SUCCESS),
    ],
)
def test_a_wait_leaves_a_built_cluster_in_its_phase(before: Status, after: Phase) -> None:
    status = before.waiting_for_quota(
        NOW, "h1", WAIT, "Waiting for quota: ...", NOW + dt.timedelta(minutes=1)
    )
    assert (status.phase, status.reason, status.observed_hash) == (after, Reason.QUOTA_WAIT, "h1")
    assert status.quota_wait == WAIT and status.next_attempt_at == NOW + dt.timedelta(minutes=1)
    assert status.plan is None and status.failures == 0
    assert status.resources == before.resources and status.applied_hash == before.applied_hash


def test_a_run_clears_the_wait_and_a_person_may_ask_to_look_again() -> None:
    waiting = Status(name="c").waiting_for_quota(NOW, "h1", WAIT, "w", NOW)
    assert retries.check_retryable("c", waiting) is waiting
    assert waiting.started(NOW, Phase.PLAN_RUNNING, Reason.RETRY_DUE, "r1", "h1").quota_wait is None
    assert waiting.invalid(NOW, "h2", "bad").quota_wait is None
    assert waiting.quota_wait is not None
    assert '"quota_wait"' in waiting.model_dump_json() and "checked_at" in waiting.model_dump_json()


def test_metrics_count_the_clusters_waiting_for_quota() -> None:
    metrics = Metrics()
    metrics.status_recorded(Status(name="a").waiting_for_quota(NOW, "h1", WAIT, "w", NOW))
    metrics.status_recorded(Status(name="b", phase=Phase.BUILD_SUCCESS))
    assert b"mchub_clusters_waiting_for_quota 1.0" in metrics.render()
    assert b'mchub_clusters{phase="pending"} 1.0' in metrics.render()
