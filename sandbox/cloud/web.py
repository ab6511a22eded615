"""HTTP helpers shared by the sandbox services: errors in each service's format, JSON bodies,
timestamps, list filters and microversions."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

Record = dict[str, Any]

SERVICES = ("identity", "compute", "image", "network", "volume")

# Nova and Cinder name the fault by status code (nova/api/openstack/wsgi.py, Fault._fault_names).
_FAULT_NAMES = {
    400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
    406: "notAcceptable", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
    429: "overLimit", 500: "computeFault", 501: "notImplemented", 503: "serviceUnavailable",
}
_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 409: "Conflict", 413: "Request Entity Too Large", 415: "Unsupported Media Type",
    500: "Internal Server Error", 503: "Service Unavailable",
}
_NEUTRON_TYPES = {400: "HTTPBadRequest", 403: "HTTPForbidden", 404: "HTTPNotFound", 409: "HTTPConflict",
                  503: "ServiceUnavailable"}


class CloudError(Exception):
    """An API error; each service renders it in its own body format."""

    def __init__(self, status: int, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind  # Neutron's error "type", e.g. "NetworkNotFound"


def _preferred(accept: str, offers: tuple[str, ...]) -> str | None:
    """The offer the Accept header ranks highest (ties: the first offer), as webob negotiates;
    no header accepts anything."""
    ranges = []
    for part in filter(None, (p.strip() for p in accept.split(","))):
        media, *params = (x.strip() for x in part.split(";"))
        weights = [p[2:] for p in params if p.startswith("q=") and p[2:].replace(".", "", 1).isdigit()]
        q = float(weights[0]) if weights else 1.0
        ranges.append((media.lower(), q))
    best, best_q = None, 0.0
    for offer in offers:
        q = 1.0 if not ranges else max(
            (q for media, q in ranges if media in (offer, offer.split("/")[0] + "/*", "*/*")), default=0.0)
        if q > best_q:
            best, best_q = offer, q
    return best


def glance_error(status: int, message: str, accept: str,
                 headers: Mapping[str, str] | None = None) -> Response:
    """Glance's errors are webob's pages: HTML unless the client prefers JSON (or takes neither)."""
    title = _TITLES.get(status, "Error")
    status_line = f"{status} {title}"
    kind = _preferred(accept, ("text/html", "application/json"))
    if kind == "application/json":
        body = {"message": f"{message}<br /><br />\n\n\n", "code": status_line, "title": title}
        return JSONResponse(body, status, headers)
    if kind == "text/html":
        page = (f"<html>\n <head>\n  <title>{status_line}</title>\n </head>\n <body>\n"
                f"  <h1>{status_line}</h1>\n  {html.escape(message)}<br /><br />\n\n\n\n </body>\n</html>")
        return HTMLResponse(page, status, headers)
    return PlainTextResponse(f"{status_line}\n\n{message}\n\n\n\n", status, headers)


def error_response(service: str, err: CloudError, headers: Mapping[str, str] | None = None,
                   accept: str = "") -> Response:
    """The error body the real service would send for this status (`accept`: the request's header)."""
    status, message = err.status, err.message
    if service in ("compute", "volume") and status != 401:
        fault: Record = {"code": status, "message": message}
        if service == "volume" and status == 413:
            fault["retryAfter"] = "0"
        return JSONResponse({_FAULT_NAMES.get(status, "computeFault"): fault}, status, headers)
    if service == "network" and status != 401:
        body = {"type": err.kind or _NEUTRON_TYPES.get(status, "HTTPError"), "message": message, "detail": ""}
        return JSONResponse({"NeutronError": body}, status, headers)
    if service == "image" and status != 401:
        return glance_error(status, message, accept, headers)
    # Keystone itself, and keystonemiddleware in front of every other service.
    error: Record = {"code": status, "message": message, "title": _TITLES.get(status, "Error")}
    return JSONResponse({"error": error}, status, headers)


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


def iso(ts: float, micro: bool = False) -> str:
    """Timestamp as OpenStack prints it: `2024-05-01T12:00:00Z` (micro: `...00.000000`, Cinder)."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") if micro else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def read_json(request: Request, wrapper: str | None = None) -> Record:
    """The request's JSON object (or its `wrapper` member); 400 when it is missing or malformed."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise CloudError(400, f"Malformed request body: {exc}") from exc
    if not isinstance(body, dict):
        raise CloudError(400, "Malformed request body: expected a JSON object")
    if wrapper is None:
        return body
    inner = body.get(wrapper)
    if not isinstance(inner, dict):
        raise CloudError(400, f"Malformed request body: missing '{wrapper}' object")
    return inner


def is_paged(request: Request) -> bool:
    """One page holds everything: any `?marker=` asks for the (empty) next page."""
    return "marker" in request.query_params


def _matches(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, bool):
        return str(value).lower() in [w.lower() for w in wanted]
    if isinstance(value, list):
        return any(str(v) in wanted for v in value)
    return str(value) in wanted


def filter_records(records: Iterable[Record], request: Request, ignore: Iterable[str] = ()) -> list[Record]:
    """Neutron-style filters: every query parameter naming a field must match (repeat = any of)."""
    skip = {"fields", "marker", "limit", "sort_key", "sort_dir", "page_reverse", *ignore}
    params = request.query_params
    result = []
    for record in records:
        keep = all(
            key in skip or key not in record or _matches(record[key], params.getlist(key))
            for key in params.keys()
        )
        if keep:
            result.append(record)
    return result


def select_fields(record: Record, request: Request) -> Record:
    """Apply Neutron's `?fields=a&fields=b` projection."""
    fields = request.query_params.getlist("fields")
    return {k: v for k, v in record.items() if k in fields} if fields else record


def name_matches(name: str, pattern: str) -> bool:
    """Nova's `?name=` filter is a regular expression searched in the name."""
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return pattern in name


def microversion(request: Request, service: str, minimum: str, maximum: str) -> tuple[int, int]:
    """The microversion the client asked for (OpenStack-API-Version header), checked against the range."""
    header = request.headers.get("openstack-api-version", "")
    legacy = {"compute": "x-openstack-nova-api-version"}.get(service)
    asked = ""
    for part in header.split(","):
        words = part.split()
        if len(words) == 2 and words[0].lower() == service:
            asked = words[1]
    if not asked and legacy:
        asked = request.headers.get(legacy, "")
    low, high = parse_version(minimum), parse_version(maximum)
    if not asked:
        return low
    if asked.lower() == "latest":
        return high
    version = parse_version(asked)
    if not low <= version <= high:
        raise CloudError(406, f"Version {asked} is not supported by the API. "
                              f"Minimum is {minimum} and maximum is {maximum}.")
    return version


def parse_version(text: str) -> tuple[int, int]:
    try:
        major, minor = text.strip().split(".")
        return int(major), int(minor)
    except ValueError as exc:
        raise CloudError(400, f"Invalid API version request: {text!r}") from exc


def host_url(request: Request) -> str:
    """`http://host:port` as the client reached us; every endpoint URL is built on it."""
    return f"{request.url.scheme}://{request.url.netloc}"


def links(request: Request, path: str) -> list[Record]:
    """`links` with self and bookmark entries for an absolute path such as `/compute/v2.1/servers/x`."""
    href = host_url(request) + path
    return [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}]
