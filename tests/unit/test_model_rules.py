"""The model's small rules that every door (CLI, cluster page, JSON API) applies: which plan a person
may approve, and whether a cluster name is free."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from reconciler.model.approvals import NotApprovable, approvable_plan
from reconciler.model.names import name_taken
from reconciler.model.status import Phase, PlanInfo, Reason, Status

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PLAN = PlanInfo(id="plan-1", spec_hash="h", add=3, created_at=NOW)
WAITING = Status(name="a").planned(NOW, PLAN)


def test_the_waiting_plan_is_approvable_by_its_id() -> None:
    assert approvable_plan("a", WAITING, "plan-1") == PLAN


@pytest.mark.parametrize("given", [None, ""])
def test_an_approval_without_a_plan_id_is_refused_naming_the_waiting_plan(given: str | None) -> None:
    words = "name the plan you approve: plan plan-1 (+3 ~0 -0) is waiting"
    with pytest.raises(NotApprovable, match=re.escape(words)):
        approvable_plan("a", WAITING, given)


@pytest.mark.parametrize(
    ("status", "given", "words"),
    [
        (None, None, "no plan awaiting approval (phase: not reconciled yet)"),
        (
            Status(name="a", phase=Phase.BUILD_SUCCESS),
            "plan-1",
            "no plan awaiting approval (phase: build_success)",
        ),
        (WAITING.model_copy(update={"plan": None}), None, "no plan awaiting approval"),
        (
            WAITING,
            "plan-0",
            "plan plan-0 is no longer current; the plan awaiting approval is plan-1 (+3 ~0 -0)",
        ),
    ],
)
def test_what_cannot_be_approved(status: Status | None, given: str | None, words: str) -> None:
    with pytest.raises(NotApprovable, match=re.escape(words)):
        approvable_plan("a", status, given)


@pytest.mark.parametrize(
    ("has_spec", "status", "taken"),
    [
        (False, None, False),
        (True, None, True),
        (False, Status(name="a", phase=Phase.BUILD_SUCCESS, orphaned=True), True),
        (False, Status(name="a", phase=Phase.DESTROY_ERROR), True),
        (False, Status(name="a").destroyed(NOW, Reason.DESTROYED, "h"), False),
        (True, Status(name="a").destroyed(NOW, Reason.DESTROYED, "h"), True),
    ],
)
def test_name_taken(has_spec: bool, status: Status | None, taken: bool) -> None:
    assert (name_taken("a", has_spec, status) is not None) == taken


def test_a_plan_id_that_is_not_one_is_refused_without_being_quoted_back() -> None:
    """A lone surrogate (or any text the hub never makes) in a plan id once made the 409 fail to
    encode (a 500): it is refused with words that do not repeat it."""
    from reconciler.model.approvals import NotApprovable, approvable_plan

    waiting = Status(name="a").planned(NOW, PLAN)
    for bad in ("\ud800", "plan 1", "x" * 500, "../plan-1"):
        with pytest.raises(NotApprovable) as caught:
            approvable_plan("a", waiting, bad)
        assert "not a plan id" in str(caught.value) and bad not in str(caught.value)
        str(caught.value).encode("utf-8")
