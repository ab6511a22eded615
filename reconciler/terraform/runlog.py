"""The run log (runs/<id>.log): every line Terraform prints, as it prints it, with secrets
replaced by `***`. `process.py` feeds it raw output; `-json` events are written as the human
message Terraform would have printed, so the log reads like a normal Terraform run."""

from __future__ import annotations

import codecs
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import IO, Any

from reconciler.terraform import output as tfjson
from reconciler.terraform.errors import strip_ansi

Sink = Callable[[str], None] | IO[str]


class Redactor:
    """Replaces every secret (and its JSON-escaped form) by `***`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        plain = {s for s in secrets if s}
        self._forms = sorted(plain | {json.dumps(s)[1:-1] for s in plain}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._forms:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def data(self, value: Any) -> Any:
        """The same for JSON-like data (diagnostics)."""
        return json.loads(self(json.dumps(value)))


class Tail:
    """Whole lines appended to a file since the last call (UTF-8). Reads with pread, so the writer's
    file offset, which a child shares with us, is left alone."""

    def __init__(self, fd: int) -> None:
        self.fd, self.pos = fd, 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""

    def read(self, final: bool = False) -> list[str]:
        """New complete lines; with `final` (the writer is gone), a last unterminated one too."""
        chunks = []
        while chunk := os.pread(self.fd, 1 << 16, self.pos):
            self.pos += len(chunk)
            chunks.append(chunk)
        *lines, self._pending = (self._pending + self._decoder.decode(b"".join(chunks), final)).split("\n")
        if final and self._pending:
            lines, self._pending = [*lines, self._pending], ""
        return [line.rstrip("\r") for line in lines]


class RunLog:
    """Writes lines to the log (a callable or a text file), and raw `-json` events to `json_log`."""

    def __init__(self, log: Sink, redact: Redactor, json_log: Sink | None = None) -> None:
        self.redact = redact
        self._log, self._json = _writer(log), (_writer(json_log) if json_log is not None else None)

    def line(self, text: str) -> None:
        self._log(self.redact(strip_ansi(text)))

    def event(self, event: tfjson.Event) -> None:
        if self._json is not None:  # sensitive outputs hidden: 1.0.3 puts their values in the stream
            self._json(self.redact(json.dumps(tfjson.mask_sensitive(event))))
        for text in tfjson.human_lines(event):
            self.line(text)


def _writer(target: Sink) -> Callable[[str], None]:
    if callable(target):
        return target
    lock = threading.Lock()

    def write(line: str) -> None:
        with lock:
            target.write(line + "\n")
            target.flush()

    return write
