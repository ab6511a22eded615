"""The hub's own log: one line per event, as text or JSON lines with the cluster and run id."""

from __future__ import annotations

import io
import json
import logging

from reconciler.entry.logs import configure_logging


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_cluster_and_run_id(stream: io.StringIO) -> None:
    configure_logging(verbose=False, json_format=True, stream=stream)
    log = logging.getLogger("mchub.loop")
    log.info("planned %s: %d to add", "base", 3, extra={"cluster": "base", "run_id": "20260501-plan-ab12"})
    log.warning('multi\nline "quoted"')
    log.debug("hidden unless verbose")
    first, second = (json.loads(line) for line in lines(stream))
    assert first.keys() == {"ts", "level", "logger", "msg", "cluster", "run_id"}
    assert first["level"] == "INFO" and first["logger"] == "mchub.loop"
    assert first["msg"] == "planned base: 3 to add"
    assert (first["cluster"], first["run_id"]) == ("base", "20260501-plan-ab12")
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert second.keys() == {"ts", "level", "logger", "msg"}
    assert second["msg"] == 'multi\nline "quoted"'


def test_exceptions_stay_on_one_line(stream: io.StringIO) -> None:
    configure_logging(verbose=True, json_format=True, stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("mchub.x").exception("failed", extra={"cluster": "c1"})
    (line,) = lines(stream)
    event = json.loads(line)
    assert event["cluster"] == "c1" and "ValueError: boom" in event["exc"]


def test_text_format_is_one_line_with_context(stream: io.StringIO) -> None:
    configure_logging(verbose=True, json_format=False, stream=stream)
    log = logging.getLogger("mchub.reconcile")
    log.debug("two\nlines", extra={"cluster": "base", "run_id": "r1"})
    try:
        raise RuntimeError("x")
    except RuntimeError:
        log.exception("oops")
    first, second = lines(stream)
    assert first.endswith(" DEBUG mchub.reconcile [base run=r1]: two\\nlines")
    assert " ERROR mchub.reconcile: oops\\nTraceback" in second and "RuntimeError: x" in second


def test_configuring_twice_does_not_double_lines(stream: io.StringIO) -> None:
    configure_logging(verbose=False, json_format=False, stream=io.StringIO())
    configure_logging(verbose=False, json_format=True, stream=stream)
    logging.getLogger("mchub").info("once")
    assert len(lines(stream)) == 1
    assert logging.getLogger("httpx").level == logging.WARNING
