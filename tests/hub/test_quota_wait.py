"""A spec that does not fit the free quota waits; it is not invalid (issue 13), on the real Terraform
and the sandbox cloud with its quota knob: a new cluster over quota waits with no Terraform run and
builds once the quota is raised; a built cluster scaled past the quota keeps its servers, says the
change waits, and applies it when room appears; a spec change while waiting is checked at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import pytest

from reconciler.cloud.catalog import Catalog
from reconciler.engine.hub import make_hub
from reconciler.engine.reconcile import reconcile
from reconciler.entry.cli import print_status
from reconciler.model import runs
from reconciler.model.status import Phase, Reason

from .conftest import HubEnv

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(300)]

RECHECK = dt.timedelta(seconds=60)  # Policy.preflight_recheck


@pytest.fixture
def env(hubenv: HubEnv) -> Iterator[HubEnv]:
    """The hub with its catalog and pre-flight; the catalog's clock is the hub's, so figures age as
    the test moves time (and are fetched again before a later check)."""
    catalog = Catalog(hubenv.settings, clock=lambda: hubenv.clock().timestamp())
    hub = make_hub(hubenv.settings, catalog=catalog, terraform=hubenv.hub.terraform, clock=hubenv.clock)
    try:
        yield replace(hubenv, hub=hub)
    finally:
        catalog.stop()


def quota(env: HubEnv, **limits: int) -> None:
    """Force the project's quota limits (the sandbox's fault knob; none given: the seed's)."""
    env.box.faults.update({"quota": limits})


def run_count(env: HubEnv, name: str = "hpc") -> int:
    return len(runs.list_records(env.settings.clusters_dir, name))


def test_a_new_cluster_over_quota_waits_then_builds_once_the_quota_is_raised(
    env: HubEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    quota(env, cores=4)  # the spec needs 4 + 2 + 1 = 7 vCPUs
    env.write_spec()
    outcome = reconcile("hpc", env.hub)
    status = outcome.status
    assert (status.phase, status.reason) == (Phase.PENDING, Reason.QUOTA_WAIT)
    assert status.message == (
        "Waiting for quota: needs 3 more vCPUs (7 needed, 4 free). It builds by itself once there is room."
    )
    assert status.quota_wait is not None
    assert (status.quota_wait.needs, status.quota_wait.free) == ({"cores": 7}, {"cores": 4})
    assert status.next_attempt_at == env.clock() + RECHECK == outcome.next_at  # the loop looks again then
    assert env.status() == status  # recorded: what `mchub status`, the API and the page read
    assert print_status(env.settings, ["hpc"], as_json=False) == 0
    assert "pending            quota_wait" in capsys.readouterr().out
    assert run_count(env) == 0 and env.cloud_counts()["servers"] == 0  # no Terraform run, nothing built

    # Nothing runs before the next check; a changed spec is checked at once (still too big here).
    env.clock.advance(30)
    assert reconcile("hpc", env.hub).status == status
    env.write_spec(instances__node__count=2)
    status = env.reconcile()
    assert status.reason == Reason.QUOTA_WAIT and status.quota_wait is not None
    assert status.quota_wait.needs == {"cores": 8} and run_count(env) == 0

    # Room appears (the quota is raised): the next check builds it, nobody asks.
    quota(env)
    env.clock.advance(RECHECK.total_seconds())
    status = env.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert status.quota_wait is None and status.reason == Reason.APPLIED
    assert sorted(env.servers()) == ["login1", "mgmt1", "node1", "node2"]


def test_a_built_cluster_scaled_past_the_quota_keeps_running_and_applies_when_room_appears(
    env: HubEnv,
) -> None:
    quota(env, cores=8)
    env.write_spec()
    built = env.reconcile()
    assert built.phase == Phase.BUILD_SUCCESS, built.message
    servers = {host: s.id for host, s in env.servers().items()}
    assert sorted(servers) == ["login1", "mgmt1", "node1"]

    env.write_spec(instances__node__count=3)  # 9 vCPUs: 1 more than the quota, its own 7 counted
    status = env.reconcile()
    assert (status.phase, status.reason) == (Phase.BUILD_SUCCESS, Reason.QUOTA_WAIT)
    assert status.message.startswith("Waiting for quota: the change needs 1 more vCPU (9 needed, 8 free).")
    assert "keeps running as built" in status.message
    assert status.quota_wait is not None and status.quota_wait.free == {"cores": 8}
    assert status.applied_hash == built.applied_hash != status.observed_hash  # the change is not applied
    assert status.outputs == built.outputs and status.resources == built.resources
    assert {host: s.id for host, s in env.servers().items()} == servers  # every server kept, untouched
    assert run_count(env) == 1

    # Still no room at the next check: it keeps waiting, and runs nothing.
    env.clock.advance(RECHECK.total_seconds())
    again = env.reconcile()
    assert again.reason == Reason.QUOTA_WAIT and again.updated_at == env.clock() and run_count(env) == 1

    quota(env, cores=9)  # room appears
    env.clock.advance(RECHECK.total_seconds())
    status = env.reconcile()
    assert (status.phase, status.reason) == (Phase.BUILD_SUCCESS, Reason.APPLIED), status.message
    assert status.quota_wait is None and status.applied_hash == status.observed_hash
    after = {host: s.id for host, s in env.servers().items()}
    assert sorted(after) == ["login1", "mgmt1", "node1", "node2", "node3"]
    assert {h: after[h] for h in servers} == servers  # the change added nodes, replaced nothing


def test_other_preflight_problems_stay_invalid(env: HubEnv) -> None:
    """A flavor the cloud does not have cannot be waited out: the spec must change."""
    quota(env, cores=4)
    env.write_spec(instances__node__type="p9-huge")
    status = env.reconcile()
    assert (status.phase, status.reason) == (Phase.INVALID, Reason.PREFLIGHT_FAILED)
    assert 'flavor "p9-huge" does not exist' in status.message and status.quota_wait is None
    assert run_count(env) == 0
