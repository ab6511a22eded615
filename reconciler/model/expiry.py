"""A spec's `expires` date as people read it, and the one rule about setting it. The cluster is
destroyed after that date (UTC). Pure: callers pass today's UTC date (`utc_today`), so pages, the
API and tests agree on one day. The web view shows `describe()` and refuses a write with
`past_refusal()`, the same rule the engine's `decide()` applies to a new or changed spec."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from reconciler.model.spec import FieldError

WARN_DAYS = 3  # the last days of a cluster, in which every page says it is about to go


def utc_today(now: dt.datetime | None = None) -> dt.date:
    """Today in UTC: the day the hub counts expiry in, wherever its users are."""
    moment = now or dt.datetime.now(dt.UTC)
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()


def is_past(expires: dt.date | None, today: dt.date) -> bool:
    """A date before today: the cluster's last day has gone. Today itself is its last day."""
    return expires is not None and expires < today


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


@dataclass(frozen=True)
class Expiry:
    """An expiry date seen on one day: how many days are left and what to warn about."""

    date: dt.date
    days_left: int

    @property
    def when(self) -> str:
        """`today`, `tomorrow`, `in 5 days`, `2 days ago`."""
        if self.days_left < 0:
            return "yesterday" if self.days_left == -1 else f"{_days(-self.days_left)} ago"
        return {0: "today", 1: "tomorrow"}.get(self.days_left, f"in {_days(self.days_left)}")

    @property
    def text(self) -> str:
        """`expires 2026-12-03, in 3 days`."""
        verb = "expired" if self.days_left < 0 else "expires"
        return f"{verb} {self.date.isoformat()}, {self.when}"

    @property
    def warning(self) -> str | None:
        """What to warn about in the cluster's last WARN_DAYS days (and after), else None."""
        if self.days_left < 0:
            return f"expired on {self.date.isoformat()}"
        if self.days_left == 0:
            return "destroyed at the end of today (UTC)"
        if self.days_left <= WARN_DAYS:
            return f"destroyed in {_days(self.days_left)}"
        return None

    def as_json(self, warn: bool = True) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "days_left": self.days_left,
            "text": self.text,
            "warning": self.warning if warn else None,
        }


def describe(expires: dt.date | None, today: dt.date) -> Expiry | None:
    return Expiry(expires, (expires - today).days) if expires is not None else None


def past_refusal(new: dt.date | None, today: dt.date, absent: bool = False) -> FieldError | None:
    """Why a spec as it would be written may not carry `expires` = `new`, or None. The engine
    refuses any new or changed spec whose date is already past (a past date is a mistake, not an
    order to destroy), so the web view refuses to write one: an edit of an expired cluster sets a
    new date first. A spec that asks for `ensure: absent` is a person's decision either way."""
    if absent or not is_past(new, today):
        return None
    assert new is not None
    return FieldError(
        path="expires",
        message=(
            f"{new.isoformat()} is already past (today is {today.isoformat()}, UTC); choose today or "
            "a later date, or leave it empty to keep the cluster"
        ),
    )


def held_date(value: Any) -> dt.date | None:
    """The `expires` a spec file holds, read as YAML gave it (a date, or a date as text)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None
