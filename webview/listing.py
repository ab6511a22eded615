"""The dashboard's list for many people: which rows a query asks for (project, status group, text),
in which order, one page at a time. Pure: the query parameters and rows in, rows out. The page
handler (pages.py) builds every cluster's row once per version of the files and git history, keeps
only those the caller may see (authz.visible), and asks this module per request, so a filter costs
a pass over dictionaries, never a read of a spec or a git process.

The query lives in the URL (`/?project=physics&status=error&q=gpu&sort=-age&page=2`): a plain GET
form sets it without JavaScript, the page's polls repeat it, and a link to a filtered list can be
shared. Values the list does not know fall back to the default rather than failing the page (a
bookmark outlives a removed project)."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cmp_to_key
from typing import Any
from urllib.parse import urlencode

from reconciler.model.status import Phase

PAGE_SIZE = 50  # rows per page: small to send and draw at any size (the rest: filters, pages)
MAX_TEXT = 100

# Status groups, as a person filters: what the cluster is doing, not Terraform's step.
GROUPS: dict[str, str] = {
    "building": "Building",  # a run under way: planning, building or destroying
    "built": "Built",
    "error": "Error",  # a failed run or an invalid spec
    "waiting": "Waiting",  # for an approval, for quota, or for the reconciler's first look
    "destroyed": "Destroyed",
}
_GROUP_OF_PHASE = {
    Phase.PENDING: "waiting",
    Phase.INVALID: "error",
    Phase.PLAN_RUNNING: "building",
    Phase.PLAN_ERROR: "error",
    Phase.AWAITING_APPROVAL: "waiting",
    Phase.BUILD_RUNNING: "building",
    Phase.BUILD_ERROR: "error",
    Phase.BUILD_SUCCESS: "built",
    Phase.DESTROY_RUNNING: "building",
    Phase.DESTROY_ERROR: "error",
    Phase.DESTROYED: "destroyed",
}
# Reasons that put a cluster in another group than its phase, as its chip says (present.chip_of).
_GROUP_OF_REASON = {"quota_wait": "waiting"}

# Sortable columns -> the first direction a header link offers.
SORTS: dict[str, str] = {
    "name": "asc",
    "project": "asc",
    "owner": "asc",
    "status": "asc",
    "age": "asc",  # youngest first
    "expires": "asc",  # soonest first
    "changed": "desc",  # most recent first
}

# The form's "Sort by" choices (the headers do the same on wide screens; a phone has no header row).
SORT_CHOICES: dict[str, str] = {
    "name": "Name",
    "project": "Project",
    "owner": "Owner",
    "status": "Status",
    "age": "Newest first",
    "-age": "Oldest first",
    "expires": "Expiring soonest",
    "-changed": "Changed most recently",
}


def status_group(phase: str, reason: str = "", spec_invalid: bool = False) -> str:
    """The group a cluster is filtered in: its reason's when that outranks the phase (a cluster
    waiting for quota shows "waiting for quota"), an invalid spec is an error, else its phase's."""
    if reason in _GROUP_OF_REASON:
        return _GROUP_OF_REASON[reason]
    if spec_invalid and phase in (Phase.PENDING.value, Phase.INVALID.value):
        return "error"
    try:
        return _GROUP_OF_PHASE[Phase(phase)]
    except ValueError:
        return "waiting"


@dataclass(frozen=True)
class ListQuery:
    """What the person asked the list for. Empty strings mean "any"."""

    project: str = ""
    status: str = ""
    text: str = ""
    sort: str = "name"
    descending: bool = False
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ListQuery:
        sort = params.get("sort", "").strip()
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        status = params.get("status", "").strip()
        try:
            page = max(1, min(int(params.get("page", "1")), 1_000_000))
        except ValueError:
            page = 1
        return cls(
            project=params.get("project", "").strip()[:MAX_TEXT],
            status=status if status in GROUPS else "",
            text=" ".join(params.get("q", "").split())[:MAX_TEXT],
            sort=sort if sort in SORTS else "name",
            descending=descending if sort in SORTS else False,
            page=page,
        )

    @property
    def sort_param(self) -> str:
        return ("-" if self.descending else "") + self.sort

    @property
    def filtered(self) -> bool:
        return bool(self.project or self.status or self.text)

    def params(self, **changes: Any) -> dict[str, str]:
        """The query as URL parameters, defaults left out (the same list, the shortest URL)."""
        q = replace(self, **changes)
        out = {"project": q.project, "status": q.status, "q": q.text}
        if (q.sort, q.descending) != ("name", False):
            out["sort"] = q.sort_param
        if q.page > 1:
            out["page"] = str(q.page)
        return {k: v for k, v in out.items() if v}

    def url(self, path: str = "/", **changes: Any) -> str:
        params = self.params(**changes)
        return f"{path}?{urlencode(params)}" if params else path

    def key(self) -> str:
        """The query in one string: part of the dashboard's cache key and ETag."""
        return urlencode(sorted(self.params().items()))

    def sort_url(self, column: str) -> str:
        """The header link of `column`: its first direction, or the other one when already sorted
        by it; back to page 1 (the rows move)."""
        if column == self.sort:
            return self.url(descending=not self.descending, page=1)
        return self.url(sort=column, descending=SORTS[column] == "desc", page=1)

    def aria_sort(self, column: str) -> str:
        if column != self.sort:
            return "none"
        return "descending" if self.descending else "ascending"


def matches(row: Mapping[str, Any], query: ListQuery) -> bool:
    if query.project and row.get("project") != query.project:
        return False
    if query.status and row.get("group") != query.status:
        return False
    if query.text:
        needle = query.text.casefold()
        haystack = (row.get("name") or "", row.get("owner") or "", row.get("project") or "")
        if not any(needle in str(h).casefold() for h in haystack):
            return False
    return True


def _sort_value(column: str) -> Callable[[Mapping[str, Any]], Any]:
    """The value a column sorts by; None for a row that has none (always listed last)."""
    group_order = list(GROUPS)

    def value(row: Mapping[str, Any]) -> Any:
        if column == "name":
            return row["name"]
        if column in ("project", "owner"):
            return str(row.get(column) or "").casefold() or None
        if column == "status":
            return group_order.index(row["group"]) if row.get("group") in GROUPS else len(GROUPS)
        if column == "age":
            created = row.get("created")
            return -created.timestamp() if isinstance(created, dt.datetime) else None  # youngest first
        if column == "expires":
            expiry = row.get("expiry")
            return expiry["date"] if expiry else None
        return row.get("last_change")

    return value


def ordered(rows: Iterable[Mapping[str, Any]], query: ListQuery) -> list[Mapping[str, Any]]:
    """Rows in the query's order; ties by name; rows without the value (no project, no expiry, an
    unknown age) last in either direction."""
    value = _sort_value(query.sort)
    keyed = [(value(r), r) for r in rows]
    known = [(v, r) for v, r in keyed if v is not None]
    unknown = sorted((r for v, r in keyed if v is None), key=lambda r: r["name"])
    known.sort(key=lambda vr: vr[1]["name"])  # stable: ties stay in name order
    known.sort(key=lambda vr: vr[0], reverse=query.descending)
    return [r for _, r in known] + unknown


def _compare(query: ListQuery) -> Callable[[Mapping[str, Any], Mapping[str, Any]], int]:
    """`ordered`'s order as a comparison of two rows (names are unique: no two rows tie)."""
    value, sign = _sort_value(query.sort), -1 if query.descending else 1

    def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
        va, vb = value(a), value(b)
        if va is not None and vb is not None and va != vb:
            return sign if va > vb else -sign
        if (va is None) != (vb is None):
            return 1 if va is None else -1  # a row without the value: last, either way
        name_a, name_b = str(a["name"]), str(b["name"])
        return (name_a > name_b) - (name_a < name_b)

    return compare


class Order:
    """The rows one query matches, in its order (a sorted index), kept up to date a few rows at a
    time: a change to one cluster of 10,000 moves one row (a binary search and an insertion), not
    a sort of all of them, and the first page is then a slice."""

    def __init__(self, rows: Iterable[Mapping[str, Any]], query: ListQuery) -> None:
        self.query = query
        self._key = cmp_to_key(_compare(query))
        self.rows = ordered((r for r in rows if matches(r, query)), query)

    def update(self, old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> bool:
        """Take rows `old` out and put rows `new` in (those the query matches). False, leaving the
        index to be built again, when an old row is not where the order says it must be."""
        for row in old:
            if not matches(row, self.query):
                continue
            at = bisect_left(self.rows, self._key(row), key=self._key)
            if at >= len(self.rows) or self.rows[at] is not row:
                return False
            del self.rows[at]
        for row in new:
            if matches(row, self.query):
                insort(self.rows, row, key=self._key)
        return True

    def page(self, total: int, page: int) -> Listing:
        """One page of the index (a page past the end shows the last one)."""
        pages = max(1, -(-len(self.rows) // PAGE_SIZE))
        page = min(page, pages)
        start = (page - 1) * PAGE_SIZE
        return Listing(self.rows[start : start + PAGE_SIZE], total, len(self.rows), page, pages)


@dataclass(frozen=True)
class Listing:
    """One page of the list, and the figures the page says about it."""

    rows: list[Mapping[str, Any]]
    total: int  # every cluster the caller may see
    matched: int  # of those, the ones the filters match
    page: int
    pages: int


def select(rows: Iterable[Mapping[str, Any]], query: ListQuery) -> Listing:
    """Filter, sort and cut one page (a page past the end shows the last one)."""
    everything = list(rows)
    return Order(everything, query).page(len(everything), query.page)


def age_words(created: dt.datetime | None, today: dt.date) -> str:
    """`today`, `1 day`, `12 days`, `5 months`, `2 years`: counted in whole UTC days, so the text
    only changes with the date (the dashboard's cached HTML is per day)."""
    if created is None:
        return ""
    days = (today - created.astimezone(dt.UTC).date()).days
    if days <= 0:
        return "today"
    if days < 60:
        return "1 day" if days == 1 else f"{days} days"
    if days < 730:
        return f"{days // 30} months"
    return f"{days // 365} years"
