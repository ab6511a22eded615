"""Terraform failures, classified once: exit code + diagnostics -> TerraformError(kind, message).

Sits between `process.py` (which runs the process and collects stderr and `-json` diagnostics)
and the reconciler, which only looks at `kind`: CONFIG waits for the spec to change (a template
error, or a request the cloud refused as wrong: HTTP 400 or 404, which no retry can fix), CONFLICT
(409: a resource the cloud already has but Terraform's state does not, or one in a state that
forbids the change) for a person to act, every other kind is retried with backoff (QUOTA and AUTH
may be shown specially).
"""

from __future__ import annotations

import json
import re
import shlex
from enum import StrEnum
from typing import Any

Diagnostic = dict[str, Any]  # Terraform's JSON diagnostic shape: severity, summary, detail, range, address

MAX_MESSAGE = 500
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class FailureKind(StrEnum):
    CONFIG = "config"  # permanent: stop until the spec (or template) changes
    QUOTA = "quota"
    AUTH = "auth"
    LOCKED = "locked"
    TRANSIENT = "transient"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    CONFLICT = "conflict"  # permanent: "already exists", a person imports or removes the resource

    @property
    def permanent(self) -> bool:
        """Trying again cannot help: the spec, or a person's hand in the cloud, must change first."""
        return self in (FailureKind.CONFIG, FailureKind.CONFLICT)


class TerraformError(Exception):
    """A Terraform command failed (or could not start); `message` is short, human and redacted."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        command: str = "",
        exit_code: int | None = None,
        diagnostics: list[Diagnostic] | None = None,
        lock_info: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.command = command
        self.exit_code = exit_code
        self.diagnostics = diagnostics or []
        self.lock_info = lock_info

    def __repr__(self) -> str:
        return f"TerraformError({self.kind.value!r}, {self.message!r}, command={self.command!r})"


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def trim(text: str, limit: int = MAX_MESSAGE) -> str:
    """One line, ANSI-free, at most `limit` characters."""
    flat = " ".join(strip_ansi(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


# -- patterns, most specific first ---------------------------------------------------------------
_LOCKED = re.compile(r"error acquiring the state lock|error locking state", re.I)
_QUOTA = re.compile(
    r"quota exceeded|over ?quota|over ?limit|volumelimitexceeded|exceeds? (the )?allowed \w+ quota"
    r"|maximum number of \w+ (exceeded|reached)"
    r"|\b(403|413)\b[\s\S]{0,300}\bquota|\bquota\b[\s\S]{0,300}\b(403|413)\b",
    re.I,
)
_AUTH = re.compile(
    r"authentication failed|unauthori[sz]ed|requires authentication"
    r"|invalid (user ?name or password|credentials)"
    r"|\b(got|status|code|http|error)\W{0,3}401\b|\b401 unauthori",
    re.I,
)
_CONFIG_SUMMARY = re.compile(
    r"^(unsupported (argument|block type|attribute|terraform core version|operator)|invalid "
    r"|reference to undeclared|missing required|module not installed"
    r"|failed to query available provider packages|failed to install provider"
    r"|inconsistent dependency lock file|could not load plugin|plugin reinitialization required|duplicate "
    r"|unclosed configuration block|argument or block definition required|incorrect attribute value type"
    r"|variables not allowed|error in function call|call to unknown function|no value for required variable"
    r"|unknown variable|module source has changed|failed to download module|unreadable module directory"
    r"|provider configuration not present|no configuration files|extraneous label|unsuitable value type"
    r"|missing (item|key|newline|name|attribute)|cycle|unexpected (attribute|block)|bad character"
    r"|terraform encountered problems during initiali[sz]ation)",
    re.I,
)
_DOWNLOAD_SUMMARY = re.compile(r"failed to (query|install|download)", re.I)
_TRANSIENT = re.compile(
    r"connection refused|connection reset|broken pipe|i/o timeout|timed out|deadline exceeded"
    r"|handshake timeout|temporary failure in name resolution|service unavailable|bad gateway"
    r"|gateway time-?out|internal server error|too many requests|unexpected eof|plugin did not respond"
    r"|\b(got|status|code|http|error)\W{0,3}(5\d\d|429)\b",
    re.I,
)
# The cloud already has what Terraform is creating: left by a run that stopped before Terraform saved
# it to its state (a crash, a kill), or made by hand. Retrying makes the same request again.
_CONFLICT = re.compile(
    r"\balready\s+exists\b|\bduplicate[ _]?record(set)?\b|\bname is already (taken|in use)\b", re.I
)
# The HTTP status of a refused request, as gophercloud v1 ("Bad request with: [POST url]"), v2
# ("... but got 400 instead") and the cloud's own error body (`"code": 404`) word it.
_HTTP_STATUS = re.compile(
    r"(?P<bad>\bbad request with: \[)|(?P<missing>\bresource not found: \[)"
    r"|\bbut got (?P<got>\d{3}) instead|\breturned HTTP (?P<http>\d{3})\b|\"code\"\s*:\s*(?P<code>\d{3})\b",
    re.I,
)
# The cloud refusing the request itself, in words that come without a status: the provider's data
# sources and OpenStack's own sentences for a 400 or a 404.
_REFUSED = re.compile(
    r"keypair data is invalid|\binvalid input for\b|\bcould not be found\b|is not reachable from subnet"
    r"|your query returned (no|more than one) results?|\bunable to find \w+ with (name|id)\b",
    re.I,
)
_WAITED = re.compile(r"\btimeout while waiting\b", re.I)  # a wait gave up: the cloud may catch up
REFUSED_STATUSES = (400, 404)  # the request is wrong for this cloud: the spec or the cloud must change
# A 409 that passes by itself: the resource is busy in a passing state (Nova's task_state, a volume
# attaching), so a retry later succeeds.
_BUSY = re.compile(r"task_state|\bis (locked|busy)\b|\bin (the )?(state|status) \w+ing\b|try again", re.I)
# Diagnostics that say "something failed" without saying what: never the message.
_GENERIC = re.compile(r"^(execution halted|terraform encountered problems during initiali)", re.I)

_K = FailureKind
# Which kind wins among several errors. A conflict comes before quota: waiting never fixes it.
_PRIORITY = [_K.LOCKED, _K.CONFLICT, _K.QUOTA, _K.AUTH, _K.CONFIG, _K.TRANSIENT]


def classify_one(diag: Diagnostic) -> FailureKind:
    summary, detail = str(diag.get("summary", "")), str(diag.get("detail", ""))
    text = f"{summary}\n{detail}"
    if _LOCKED.search(text):
        return FailureKind.LOCKED
    if _QUOTA.search(text):
        return FailureKind.QUOTA
    if _AUTH.search(text):
        return FailureKind.AUTH
    if _CONFIG_SUMMARY.search(summary.strip()):
        # A registry or git host that does not answer is a hiccup, not a bad configuration.
        if _DOWNLOAD_SUMMARY.search(summary) and _TRANSIENT.search(detail):
            return FailureKind.TRANSIENT
        return FailureKind.CONFIG
    if _CONFLICT.search(text):
        return FailureKind.CONFLICT
    return _refused(text) or FailureKind.TRANSIENT  # network errors, 5xx, anything unknown: try again


def http_status(text: str) -> int | None:
    """The HTTP status a diagnostic reports for a refused request (the first one named), if any."""
    m = _HTTP_STATUS.search(text)
    if m is None:
        return None
    if m.group("bad") or m.group("missing"):
        return 400 if m.group("bad") else 404
    return int(m.group("got") or m.group("http") or m.group("code"))


def _refused(text: str) -> FailureKind | None:
    """A cloud's 4xx that no retry fixes: a bad request or a missing resource waits for the spec
    (or the cloud) to change; a 409 conflict for a person, unless the resource is only busy."""
    status = http_status(text)
    if status == 409:
        return FailureKind.TRANSIENT if _BUSY.search(text) else FailureKind.CONFLICT
    if status in REFUSED_STATUSES:
        return FailureKind.CONFIG
    if status is None and _REFUSED.search(text) and not _TRANSIENT.search(text) and not _WAITED.search(text):
        return FailureKind.CONFIG
    return None


def classify(diagnostics: list[Diagnostic], stderr: str = "") -> tuple[FailureKind, Diagnostic | None]:
    """The kind of a failed run, and the diagnostic that best explains it (None if there is none)."""
    errors = [d for d in diagnostics if d.get("severity", "error") == "error"]
    if not errors and stderr.strip():
        errors = [{"severity": "error", "summary": "", "detail": stderr}]
    if not errors:
        return FailureKind.TRANSIENT, None
    kinds = [classify_one(d) for d in errors]
    kind = min(kinds, key=_PRIORITY.index)
    candidates = [d for d, k in zip(errors, kinds, strict=True) if k is kind]
    specific = [d for d in candidates if not _GENERIC.match(str(d.get("summary", "")))]
    return kind, (specific or candidates)[0]


def message_of(diag: Diagnostic | None, fallback: str = "", folder: str = "clusters/<name>/") -> str:
    """`Summary (file:line, address): detail`, or the lock holder for a lock error; trimmed. A
    conflict ends with what to do about it (`conflict_advice`, run in `folder`), never trimmed off."""
    if diag is None:
        return trim(fallback or "terraform failed without an error message")
    summary, detail = str(diag.get("summary", "")).strip(), str(diag.get("detail", "")).strip()
    if _LOCKED.search(summary):
        detail = detail.split("Terraform acquires a state lock", 1)[0]  # boilerplate
        if (info := parse_lock_info(detail)) is not None:
            return trim(
                f"{summary}: held by {info.get('Who', '?')} since {info.get('Created', '?')}"
                f" (operation {info.get('Operation', '?')}, lock ID {info.get('ID', '?')})"
            )
        detail = detail.removeprefix("Error message:")
    kind, text = classify_one(diag), f"{summary}\n{detail}"
    if kind is FailureKind.CONFLICT and _CONFLICT.search(text):
        return conflict_message(diag, folder)
    if kind.permanent and (http_status(text) is not None or _REFUSED.search(text)):
        return refusal_message(diag, kind)
    where = []
    rng = diag.get("range") or {}
    if rng.get("filename"):
        where.append(f"{rng['filename']}:{rng.get('start', {}).get('line', '?')}")
    if diag.get("address"):
        where.append(str(diag["address"]))
    head = f"{summary} ({', '.join(where)})" if where else summary
    return trim(f"{head}: {detail}" if head and detail else head or detail)


_KEYPAIR_NAME = re.compile(r"key ?pair '([^'\s]{1,255})' already\s+exists", re.I)
_JSON_MESSAGE = re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.){1,300})"')


def conflict_message(diag: Diagnostic, folder: str) -> str:
    """`What (address): the cloud's words. What to do.`: the resource first, then the cloud's own
    sentence ("Key pair 'hpc-key' already exists."), not the HTTP noise around it; the advice whole."""
    summary, detail = str(diag.get("summary", "")).strip(), str(diag.get("detail", "")).strip()
    what, _, rest = summary.partition(": ")
    said = ""
    if not _CONFLICT.search(what):
        candidates = [m.group(1) for m in _JSON_MESSAGE.finditer(f"{summary}\n{detail}")]
        said = next((c for c in [*candidates, rest, *detail.splitlines()] if _CONFLICT.search(c)), "")
    address = diag.get("address")
    head = f"{what} ({address})" if address else what
    advice = conflict_advice(diag, folder)
    said = trim(f"{head}: {said}" if said else head, MAX_MESSAGE - len(advice) - 2)
    return f"{said}{'' if said.endswith(('.', '!', '…')) else '.'} {advice}"


def refusal_message(diag: Diagnostic, kind: FailureKind) -> str:
    """`What (address): the cloud's words (HTTP n). What to do.` for a request the cloud refused
    and no retry fixes: its own sentence, not the URL and JSON gophercloud wraps it in."""
    summary, detail = str(diag.get("summary", "")).strip(), str(diag.get("detail", "")).strip()
    what, _, rest = summary.partition(": ")
    text = f"{summary}\n{detail}"
    said = next((_unquoted(m.group(1)) for m in _JSON_MESSAGE.finditer(text)), "")
    if not said:
        plain = [rest, *detail.splitlines()]
        said = next((p for p in plain if p.strip() and not _HTTP_STATUS.search(p)), rest or detail)
    said = said.strip().rstrip(".")
    status = http_status(text)
    code = f" (HTTP {status})" if status else ""
    address = diag.get("address")
    head = f"{what} ({address})" if address else what
    if kind is FailureKind.CONFLICT:
        advice = (
            "The cloud refused it as a conflict with the resource's current state: resolve that in the "
            "cloud, then retry (`mchub retry`, or Retry now on its page)."
        )
    else:
        advice = (
            "The cloud refused the request itself, so retrying it cannot help: change the spec (or the "
            "cloud), then retry (`mchub retry`, or Retry now on its page)."
        )
    said = trim(f"{head}: {said}{code}" if said else f"{head}{code}", MAX_MESSAGE - len(advice) - 2)
    return f"{said}{'' if said.endswith(('.', '!', '…')) else '.'} {advice}"


def _unquoted(raw: str) -> str:
    """A JSON string's content, escapes resolved (as it was captured, if it does not parse)."""
    try:
        value = json.loads(f'"{raw}"')
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


def conflict_advice(diag: Diagnostic, folder: str) -> str:
    """What a person does about a resource the cloud already has and Terraform's state does not:
    import it into the state (by its cloud ID; a key pair's is its name), or delete it in the cloud."""
    address = str(diag.get("address") or "")
    found = _KEYPAIR_NAME.search(f"{diag.get('summary', '')}\n{diag.get('detail', '')}")
    target = shlex.quote(address) if address else "ADDRESS"
    cloud_id = shlex.quote(found.group(1)) if found and "keypair" in address else "ID"
    unknown = [w for w in (target, cloud_id) if w in ("ADDRESS", "ID")]
    placeholders = {"ADDRESS": "ADDRESS: the resource named above", "ID": "ID: its ID in the cloud"}
    explained = f" ({'; '.join(placeholders[w] for w in unknown)})" if unknown else ""
    return trim(
        "The cloud already has this resource but Terraform's state does not (a run stopped before "
        f"saving it?): import it with `terraform import {target} {cloud_id}` in {folder}{explained}, "
        "or delete it in the cloud; then retry (`mchub retry`, or Retry now on its page).",
        360,
    )


_LOCK_FIELD = re.compile(r"^\s+(ID|Path|Operation|Who|Version|Created|Info):[ \t]*(.*?)\s*$", re.M)


def parse_lock_info(text: str) -> dict[str, str] | None:
    """The `Lock Info:` block of an "Error acquiring the state lock" diagnostic, if any."""
    if "Lock Info:" not in text:
        return None
    block = text.split("Lock Info:", 1)[1]
    fields = {m.group(1): m.group(2) for m in _LOCK_FIELD.finditer(block)}
    return fields or None


_HEADER = re.compile(r"^(Error|Warning): ?(.*)$")
_ON = re.compile(r"^\s+on (\S+) line (\d+)")
_WITH = re.compile(r"^\s+with (\S+?),?[ \t]*(\n|$)")  # Terraform 0.15+: the resource the error is about


def parse_text_diagnostics(text: str) -> list[Diagnostic]:
    """Diagnostics from Terraform's human output (`Error: summary`, `  on file line N`, detail)."""
    lines = []
    for raw in strip_ansi(text).splitlines():
        line = raw.rstrip()
        if line.startswith(("╷", "╵")):
            continue
        lines.append(line[2:] if line.startswith("│ ") else "" if line == "│" else line)
    diags: list[Diagnostic] = []
    body: list[str] = []

    def close() -> None:
        if not diags:
            return
        paragraphs = "\n".join(body).strip("\n").split("\n\n")
        summary_tail, rest = [], paragraphs
        if paragraphs and paragraphs[0] and not paragraphs[0].startswith(" ") and diags[-1].get("_wrap"):
            summary_tail, rest = [paragraphs[0]], paragraphs[1:]
        if rest and (w := _WITH.match(rest[0])):
            diags[-1]["address"] = w.group(1)
            rest = [rest[0][w.end() :], *rest[1:]]
        if rest and (m := _ON.match(rest[0])):
            diags[-1]["range"] = {"filename": m.group(1), "start": {"line": int(m.group(2))}}
            rest = rest[1:]
        if summary_tail:
            diags[-1]["summary"] = f"{diags[-1]['summary']} {summary_tail[0]}".replace("\n", " ")
        diags[-1].pop("_wrap", None)
        diags[-1]["detail"] = "\n\n".join(rest).strip()

    for i, line in enumerate(lines):
        if m := _HEADER.match(line):
            close()
            wraps = i + 1 < len(lines) and lines[i + 1].strip() != ""
            diags.append({"severity": m.group(1).lower(), "summary": m.group(2), "_wrap": wraps})
            body = []
        else:
            body.append(line)
    close()
    return diags
