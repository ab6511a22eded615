"""The hub's own log (not Terraform's run logs): one line per event on stderr, as text for people or
as JSON lines for a log collector. The CLI calls `configure_logging` once at start; code logs with
`log.info("...", extra={"cluster": name, "run_id": run_id})` and both formats show those fields.
Control characters are written as escapes, never as themselves: a spec value or Terraform's output
in a message cannot move the operator's cursor, recolour, retitle or rewrite their terminal (ANSI
escape sequences), nor reorder what they read (bidirectional overrides)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import IO

CONTEXT_FIELDS = ("cluster", "run_id")
NOISY = (
    "httpx", "httpx2", "httpcore", "uvicorn.access", "watchdog", "keystoneauth", "openstack", "stevedore",
)  # fmt: skip
_HANDLER_NAME = "mchub"
# C0 controls but tab and newline (ESC starts ANSI sequences; CR rewrites the line), DEL, C1 controls
# (0x9b is a one-byte CSI to many terminals), and the invisible marks that reorder text.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`); tab and newline kept."""
    return _CONTROL.sub(_escape, text)


def _one_line(text: str) -> str:
    return printable(text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n"))


class TextFormatter(logging.Formatter):
    """`2026-05-01T10:00:00.123Z INFO mchub.loop [base run=2026...]: message`, newlines escaped."""

    def format(self, record: logging.LogRecord) -> str:
        context = [getattr(record, "cluster", None)]
        run_id = getattr(record, "run_id", None)
        context.append(f"run={run_id}" if run_id else None)
        where = " ".join(str(c) for c in context if c)
        line = f"{_timestamp(record)} {record.levelname} {record.name}{f' [{where}]' if where else ''}: "
        line += record.getMessage()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return _one_line(line)


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", "cluster"?, "run_id"?, "exc"?}`, one object per line."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, str] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                event[key] = str(value)
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        # json escapes C0 controls, but not DEL, C1 or the marks that reorder text: `printable`
        # does, so a value printed raw (`jq -r .msg`) is as harmless as the line itself.
        safe = {k: printable(v) for k, v in event.items()}
        return json.dumps(safe, ensure_ascii=False)  # escapes newlines: one line per event


def _timestamp(record: logging.LogRecord) -> str:
    when = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def configure_logging(verbose: bool, json_format: bool, stream: IO[str] | None = None) -> None:
    """Route every logger to one handler on `stream` (default stderr). Calling it again replaces
    the handler it installed before, so tests and re-configuration do not double every line."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
