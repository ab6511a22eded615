"""ANSI escape sequences and other control characters from spec values or Terraform's output never
reach the operator's terminal through the hub's log: both formats write them as escapes."""

from __future__ import annotations

import io
import json
import logging

from reconciler.entry.logs import configure_logging, printable

# Clear the screen, set the window title, a one-byte CSI, a carriage return that rewrites the
# line, a bell, DEL, and a right-to-left override that reorders what is read.
HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07\x9b31m\rOK\x7f\u202egnp.exe"
RAW = ("\x1b", "\x07", "\x9b", "\r", "\x7f", "\u202e")


def test_escape_sequences_never_reach_the_terminal_in_text_lines(stream: io.StringIO) -> None:
    configure_logging(verbose=False, json_format=False, stream=stream)
    log = logging.getLogger("mchub.reconcile")
    log.warning("%s: plan_error %s", "hpc", HOSTILE, extra={"cluster": "hpc\x1b[31m"})
    try:
        raise ValueError(f"Terraform said: {HOSTILE}")
    except ValueError:
        log.exception("run failed")
    text = stream.getvalue()
    assert not any(c in text for c in RAW), repr(text)
    assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\rOK\\x7f\\u202egnp.exe" in text
    assert "[hpc\\x1b[31m]" in text
    assert len(text.splitlines()) == 2  # one line per event, the traceback's included


def test_escape_sequences_never_reach_the_terminal_in_json_lines(stream: io.StringIO) -> None:
    configure_logging(verbose=False, json_format=True, stream=stream)
    logging.getLogger("mchub.loop").warning("spec value %s", HOSTILE, extra={"run_id": "r\x9b1"})
    line = stream.getvalue()
    assert not any(c in line for c in RAW), repr(line)
    event = json.loads(line)
    # Printed raw by a person (`jq -r .msg`), the value is still harmless.
    assert not any(c in event["msg"] for c in RAW) and "\\x1b[2J" in event["msg"]
    assert event["run_id"] == "r\\x9b1"


def test_printable_keeps_ordinary_text_tabs_and_newlines() -> None:
    text = "plan: +3 ~0 -0\tnode1 ✓ é 日本\nnext"
    assert printable(text) == text
    assert printable("\x00\x1b\u2066") == "\\x00\\x1b\\u2066"
