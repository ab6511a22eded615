"""A cluster's hosts as the cluster page lists them: grouped by instance prefix ("node1–node40,
40 hosts, all built"), each group's rows behind a <details> that opens on demand, so a big cluster
reads as a few lines. Pure functions over present.instances() rows."""

from __future__ import annotations

from typing import Any

# A host's state (present._hosts_state) in words, in the order a summary names them.
STATE_WORDS = {
    "failed": "failed",
    "done": "built",
    "built": "built",
    "running": "building",
    "queued": "queued",
    "deleted": "removed",
    "destroyed": "destroyed",
    "": "not built",
}
OPEN_UP_TO = 4  # a group this small is shown open: its rows cost no more than a summary


def state_word(state: str) -> str:
    return STATE_WORDS.get(state, state)


def summary(states: list[str]) -> str:
    """`all built`, or `38 built, 2 building` (failed first: what needs a look leads)."""
    counts: dict[str, int] = {}
    for word in (state_word(s) for s in states):
        counts[word] = counts.get(word, 0) + 1
    if len(counts) == 1:
        word = next(iter(counts))
        if len(states) == 1:
            return word
        return "none built" if word == "not built" else f"all {word}"
    order = list(dict.fromkeys(STATE_WORDS.values()))
    ranked = sorted(counts, key=lambda w: order.index(w) if w in order else len(order))
    return ", ".join(f"{counts[w]} {w}" for w in ranked)


def groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One group per instance prefix, in the spec's order: its host range, count, flavor, state
    summary and rows; `open` for a small group or one with a failed host."""
    by_prefix: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_prefix.setdefault(row["prefix"], []).append(row)
    out = []
    for prefix, hosts in by_prefix.items():
        states = [h["state"] for h in hosts]
        first, last = hosts[0]["host"], hosts[-1]["host"]
        out.append(
            {
                "prefix": prefix,
                "range": first if len(hosts) == 1 else f"{first}–{last}",
                "count": len(hosts),
                "noun": "host" if len(hosts) == 1 else "hosts",
                "type": hosts[0]["type"],
                "tags": hosts[0]["tags"],
                "summary": summary(states),
                "failed": sum(1 for s in states if s == "failed"),
                "open": len(hosts) <= OPEN_UP_TO or "failed" in states,
                "rows": [dict(h, word=state_word(h["state"])) for h in hosts],
            }
        )
    return out
