"""Conditional requests and JSON answers, shared by the API and the pages: `If-None-Match` for
cheap polling (304), `If-Match` for writes that must not lose another person's change (412)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response


def if_none_match(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") in (wanted, "*") for tag in header.split(","))


def if_match(request: Request) -> list[str] | None:
    """The versions an `If-Match` header accepts ("*": any existing file), or None without one.
    Weak tags never match: If-Match compares strongly (RFC 9110)."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    tags = [tag.strip() for tag in header.split(",") if tag.strip()]
    return [tag if tag == "*" else tag.strip('"') for tag in tags if not tag.startswith("W/")]


def not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})


def json_bytes(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)
