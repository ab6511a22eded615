"""Helpers for the in-process web view tests (imported by name: `conftest` is ambiguous when
several test folders run together)."""

from __future__ import annotations

import html
import re
from typing import Any

import yaml
from starlette.testclient import TestClient  # on httpx2, which the dev extras bring
from webfakes import spec_dict

from reconciler.model.settings import Settings

BASE_URL = "http://127.0.0.1:5000"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
__all__ = ["BASE_URL", "TestClient", "csrf_from", "form_fields", "read_spec", "write_spec"]


def write_spec(settings: Settings, name: str = "alpha", **changes: Any) -> dict[str, Any]:
    data = spec_dict(name, **changes)
    (settings.specs_dir / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return data


def read_spec(settings: Settings, name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((settings.specs_dir / f"{name}.yaml").read_text())
    return data


def csrf_from(client: TestClient, url: str = "/clusters/new") -> str:
    """Load a page (which sets the CSRF cookie) and return the token its forms carry."""
    page = client.get(url)
    assert page.status_code == 200, page.text
    match = CSRF_RE.search(page.text)
    assert match, "no CSRF token in the page"
    return match.group(1)


def form_fields(html: str) -> dict[str, str]:
    """The named inputs, selects (selected option) and textareas of a rendered cluster form."""
    fields: dict[str, str] = {}
    for m in re.finditer(r'<input [^>]*name="([^"]+)"[^>]*?(?:value="([^"]*)")?[^>]*>', html):
        value = re.search(r'value="([^"]*)"', m.group(0))
        fields[m.group(1)] = _unescape(value.group(1)) if value else ""
    for m in re.finditer(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', m.group(2)) or re.search(
            r'<option value="([^"]*)"', m.group(2)
        )
        fields[m.group(1)] = _unescape(chosen.group(1)) if chosen else ""
    for m in re.finditer(r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        fields[m.group(1)] = _unescape(m.group(2))
    return {k: v for k, v in fields.items() if "__i__" not in k}


def _unescape(text: str) -> str:
    return html.unescape(text)
