"""decide() as a table: tests/data/decide_cases.yaml; plus the backoff schedule."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.engine.decide import Observed, Policy, decide, retry_delay
from reconciler.model.spec import parse_spec
from reconciler.model.status import Drift, PlanInfo, Status

DATA = Path(__file__).parent.parent / "data"
BASE = yaml.safe_load((DATA / "specs" / "base.yaml").read_text())
CASES = yaml.safe_load((DATA / "decide_cases.yaml").read_text())
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
POLICY = Policy(drift_interval=600)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _status(fields: dict[str, Any] | None) -> Status | None:
    if fields is None:
        return None
    fields = dict(fields)
    for key in ("next_attempt_at", "updated_at"):
        if key in fields:
            fields[key] = at(fields[key])
    if "drift" in fields:
        d = dict(fields["drift"])
        if "checked_at" in d:
            d["checked_at"] = at(d["checked_at"])
        fields["drift"] = Drift(**d)
    if "plan" in fields:
        fields["plan"] = PlanInfo(created_at=T0, **fields["plan"])
    return Status(name="base", **fields)


def _observed(case: dict[str, Any]) -> Observed:
    obs = {"kind": "present", "hash": "h1", **(case.get("observed") or {})}
    if obs["kind"] != "present":
        return Observed(kind=obs["kind"], hash=obs["hash"], errors=obs.get("errors", ""))
    data = copy.deepcopy(BASE)
    data.update(case.get("spec") or {})
    return Observed(kind="present", hash=obs["hash"], spec=parse_spec(data))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decide_case(case: dict[str, Any]) -> None:
    policy = Policy(**{**POLICY.__dict__, **(case.get("policy") or {})})
    retry = at(case["retry"]) if "retry" in case else None
    status, now = _status(case.get("status")), at(case.get("now", 0))
    got = decide(_observed(case), status, case.get("approval"), now, policy, retry)
    want = case["expect"]
    assert (got.action.value, got.reason.value) == (want["action"], want["reason"]), got.message
    if "next_at" in want:
        assert got.next_at == at(want["next_at"])
    if "remediate" in want:
        assert got.remediate is want["remediate"]


def test_backoff_grows_is_capped_and_jittered() -> None:
    delays = [retry_delay("c", n) for n in range(1, 12)]
    assert delays[0] < delays[2] < delays[4]
    assert max(delays) <= 1800 * 1.2
    assert retry_delay("c", 3) == retry_delay("c", 3)  # pure
    spread = {round(retry_delay(f"c{i}", 3), 3) for i in range(20)}
    assert len(spread) > 10 and all(60 * 0.8 <= d <= 60 * 1.2 for d in spread)
