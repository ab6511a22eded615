"""One-shot acknowledgements of a person's action: after Save, Spawn, Destroy, Approve or Retry the
redirect carries `?done=<kind>&from=<mark>`, where the mark is the cluster's status as it was when
the action was taken. The page says what was asked ("Change saved, planning...") in a role="status"
region, instead of the old state, until the status moves on from that mark: then the hub has taken
the action up and the page shows the status itself. Without JavaScript the notice stays until the
page is reloaded; actions.js hides it when the polled status moves on, by the same rule (`mark`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

SAVED, CREATED, DESTROY, APPROVED, RETRY, UNCHANGED, UNPUSHED = (
    "saved",
    "created",
    "destroy",
    "approved",
    "retry",
    "unchanged",
    "unpushed",
)
TEXTS = {
    SAVED: "Change saved, planning…",
    CREATED: "Cluster saved, planning…",
    DESTROY: "Destroy requested: the hub starts destroying within seconds…",
    APPROVED: "Approved: applying…",
    RETRY: "Retry requested: the hub tries again within seconds…",
    UNCHANGED: "Nothing to save: the spec already says that.",
    # a save committed on this hub that its specs' git remote did not take yet (specstore.Saved)
    UNPUSHED: "Saved on this hub, planning…; not yet pushed to the specs' git remote: the hub pushes it "
    "at its next pull.",
}
WAITS = frozenset({SAVED, CREATED, DESTROY, APPROVED, RETRY, UNPUSHED})  # shown until the status moves on
MAX_MARK = 200


def mark(kind: str, status: dict[str, Any]) -> str:
    """What must change in the status JSON (`present.status_json`) for `kind` to be taken up. A
    retry is taken up by the hub's next look, whatever it finds (any new status); the others by a
    new phase, reason, spec hash or run: a status the hub writes for another reason meanwhile (a
    readiness probe) does not count. actions.js computes the same from the JSON it polls."""
    if kind == RETRY:
        return str(status.get("updated_at") or "-")
    parts = (status.get("status"), status.get("reason"), str(status.get("observed_hash") or "-")[:12])
    return ".".join(str(p or "-") for p in (*parts, status.get("run_id")))


def redirect(path: str, kind: str, status: dict[str, Any], since: float | None = None) -> str:
    """`path` with the notice of `kind` against `status` as it was before the action (and the
    `since` the cluster page's success dialog reads)."""
    query = {"since": f"{since:.0f}"} if since is not None else {}
    query |= {"done": kind, "from": mark(kind, status)}
    return f"{path}?{urlencode(query)}"


@dataclass(frozen=True)
class Ack:
    kind: str
    text: str
    waiting: bool  # the hub has not taken it up yet (a spinner; actions.js hides it once it has)
    since: str  # the mark the status must move on from (empty for a notice shown once)

    @property
    def query(self) -> str:
        """The query that makes the page's own partials keep the notice's view of the state."""
        return "?" + urlencode({"done": self.kind, "from": self.since})


def pending(query: QueryParams, status: dict[str, Any]) -> Ack | None:
    """The notice to show for the request's `done`/`from`, or None: none asked for, one unknown, or
    the status already moved on (the hub took the action up: the page shows the status)."""
    kind, since = query.get("done", ""), query.get("from", "")[:MAX_MARK]
    if kind not in TEXTS:
        return None
    if kind not in WAITS:
        return Ack(kind, TEXTS[kind], False, "")
    if mark(kind, status) != since:
        return None
    return Ack(kind, TEXTS[kind], True, since)
