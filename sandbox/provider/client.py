"""The stand-in provider's HTTP client: a Keystone token, endpoints from its catalog, JSON calls
with retries on transient failures, and cloud errors carrying the service's own message.

Standard library only (urllib, json): the provider process starts several times per Terraform run.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

from sandbox.provider import VERSION
from sandbox.provider.credentials import Credentials

RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
TRANSIENT = frozenset({500, 502, 503, 504})
UNSENT = frozenset({502, 503})  # a POST is retried only when the cloud surely did nothing
REQUEST_TIMEOUT = 60.0
SERVICE_TYPES = {
    "compute": ("compute",),
    "image": ("image",),
    "network": ("network",),
    "volume": ("block-storage", "volumev3", "volume"),
}


class CloudError(Exception):
    """The cloud refused a request; `message` is the service's own text, verbatim."""

    def __init__(self, message: str, status: int | None = None, request: str = "", body: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request = request
        self.body = body

    @property
    def detail(self) -> str:
        if self.status is None:
            return f"{self.request}: {self.message}"
        return f"{self.request} returned HTTP {self.status}: {self.body.strip()[:2000]}"


class NotFound(CloudError):
    """HTTP 404."""


def error_message(status: int, body: str) -> str:
    """The human message inside an OpenStack error body (Nova, Cinder, Neutron, Keystone, Glance)."""
    try:
        data = json.loads(body)
    except ValueError:
        paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
        if len(paragraphs) > 1 and re.match(r"\d{3} ", paragraphs[0]):  # Glance: "404 Not Found\n\nmsg"
            paragraphs = paragraphs[1:]
        return " ".join(" ".join(paragraphs).split()) or f"HTTP {status}"
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
        if data.get("message"):
            return str(data["message"])
        if data.get("error_message"):
            return str(data["error_message"])
    return " ".join(body.split()) or f"HTTP {status}"


def _with_version(url: str, service: str, project_id: str) -> str:
    url = url.rstrip("/")
    for marker in ("%(project_id)s", "$(project_id)s", "%(tenant_id)s", "$(tenant_id)s", "{project_id}"):
        url = url.replace(marker, project_id)
    if service == "network" and not re.search(r"/v2\.0$", url):
        return url + "/v2.0"
    if service == "image" and not re.search(r"/v2$", url):
        return url + "/v2"
    if service == "compute" and not re.search(r"/v2(\.1)?(/[0-9a-f-]+)?$", url):
        return url + "/v2.1"
    return url


class Cloud:
    """One authenticated session, shared by the provider's threads."""

    def __init__(self, creds: Credentials, sleep: Callable[[float], None] = time.sleep) -> None:
        self.creds = creds
        self.sleep = sleep
        self.project_id = ""
        self._token: str | None = None
        self._endpoints: dict[str, str] = {}
        self._lock = threading.Lock()
        self._ssl = self._ssl_context()
        self._memo: dict[str, Any] = {}

    def remember(self, key: str, fetch: Callable[[], Any]) -> Any:
        """Fetch once per provider process (flavors, images, networks do not move during a run)."""
        if key not in self._memo:
            self._memo[key] = fetch()
        return self._memo[key]

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.creds.auth_url.startswith("https"):
            return None
        import ssl
        if self.creds.insecure:
            return ssl._create_unverified_context()
        return ssl.create_default_context(cafile=self.creds.cacert_file)

    # ---- authentication ----
    def _auth_url(self) -> str:
        url = self.creds.auth_url.rstrip("/")
        return url if re.search(r"/v3$", url) else url + "/v3"

    def authenticate(self) -> None:
        """Get a token and the service endpoints (once per process, or again after a 401)."""
        url = self._auth_url() + "/auth/tokens"
        status, headers, body = self._exchange("POST", url, self.creds.token_request(), idempotent=True,
                                               with_token=False)
        if status != 201 and status != 200:
            message = f"Authentication failed: {error_message(status, body)}"
            raise CloudError(message, status, f"POST {url}", body)
        token = json.loads(body).get("token", {})
        self.project_id = str((token.get("project") or {}).get("id") or "")
        self._endpoints = self._pick_endpoints(token.get("catalog") or [])
        self._token = headers.get("X-Subject-Token")

    def _pick_endpoints(self, catalog: list[dict[str, Any]]) -> dict[str, str]:
        wanted_region, interface = self.creds.region, self.creds.endpoint_type
        found: dict[str, str] = {}
        for service, types in SERVICE_TYPES.items():
            for kind in types:
                entry = next((e for e in catalog if e.get("type") == kind), None)
                for ep in (entry or {}).get("endpoints", []):
                    region_ok = wanted_region in (None, "", ep.get("region"), ep.get("region_id"))
                    if ep.get("interface") == interface and region_ok and service not in found:
                        found[service] = _with_version(str(ep["url"]), service, self.project_id)
        return found

    def endpoint(self, service: str) -> str:
        with self._lock:
            if self._token is None:
                self.authenticate()
        if service not in self._endpoints:
            raise CloudError(f"No {service} endpoint (interface {self.creds.endpoint_type}, "
                             f"region {self.creds.region or 'any'}) in the service catalog")
        return self._endpoints[service]

    # ---- requests ----
    def request(self, service: str, method: str, path: str, body: Any = None,
                query: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> Any:
        """Call `service`; return the decoded JSON body (None when empty). Raises CloudError."""
        import urllib.parse

        url = self.endpoint(service) + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        idempotent = method != "POST"
        status, _, text = self._exchange(method, url, body, idempotent, headers=headers)
        if status == 401:  # the token expired: log in again, once
            with self._lock:
                self.authenticate()
            status, _, text = self._exchange(method, url, body, idempotent, headers=headers)
        if status >= 400:
            kind = NotFound if status == 404 else CloudError
            raise kind(error_message(status, text), status, f"{method} {url}", text)
        return json.loads(text) if text.strip() else None

    def _exchange(self, method: str, url: str, body: Any, idempotent: bool, with_token: bool = True,
                  headers: Mapping[str, str] | None = None) -> tuple[int, Any, str]:
        """One call, retried after a short backoff on connection errors, 429 and transient 5xx.

        A non-idempotent call (POST) is sent again only when the cloud surely did nothing:
        connection refused, 502 or 503.
        """
        retry_on = TRANSIENT if idempotent else UNSENT
        for delay in (*RETRY_DELAYS, None):
            token = self._token if with_token else None
            try:
                status, answer_headers, text = self._send(method, url, body, token, headers)
            except OSError as exc:  # connection refused or reset, timeout
                if delay is None or not (idempotent or _unsent(exc)):
                    raise CloudError(f"Cannot reach the cloud: {exc}", None, f"{method} {url}") from exc
            else:
                if delay is None or (status not in retry_on and status != 429):
                    return status, answer_headers, text
            self.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _send(self, method: str, url: str, body: Any, token: str | None,
              headers: Mapping[str, str] | None = None) -> tuple[int, Any, str]:
        import urllib.error  # here, not at the top: `terraform validate` starts the provider without calls
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        req.add_header("User-Agent", f"mchub-sandbox-terraform-provider/{VERSION}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("X-Auth-Token", token)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT, context=self._ssl) as resp:
                return resp.status, resp.headers, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read().decode("utf-8", "replace")

    def get(self, service: str, path: str, **query: Any) -> Any:
        return self.request(service, "GET", path, query=query or None)

    def post(self, service: str, path: str, body: Any, headers: Mapping[str, str] | None = None) -> Any:
        return self.request(service, "POST", path, body, headers=headers)

    def put(self, service: str, path: str, body: Any) -> Any:
        return self.request(service, "PUT", path, body)

    def delete(self, service: str, path: str, missing_ok: bool = True) -> None:
        try:
            self.request(service, "DELETE", path)
        except NotFound:
            if not missing_ok:
                raise


def _unsent(exc: OSError) -> bool:
    import urllib.error

    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, ConnectionRefusedError)


def wait_for(describe: str, probe: Callable[[], Any], done: Callable[[Any], bool],
             timeout: float, failed: Callable[[Any], str | None] = lambda _: None,
             sleep: Callable[[float], None] = time.sleep) -> Any:
    """Poll `probe()` until `done(value)`; raise CloudError on `failed(value)` or after `timeout` s."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        value = probe()
        if done(value):
            return value
        problem = failed(value)
        if problem:
            raise CloudError(problem, None, describe)
        if time.monotonic() > deadline:
            raise CloudError(f"Timed out after {timeout:.0f} s waiting for {describe}", None, describe)
        sleep(delay)
        delay = min(delay * 1.6, 1.0)


def wait_gone(describe: str, fetch: Callable[[], Any], gone: Callable[[Any], bool], timeout: float,
              failed: Callable[[Any], str | None] = lambda _: None) -> None:
    """Poll `fetch()` until it raises NotFound or `gone(value)` (e.g. a DELETED status)."""

    def probe() -> Any:
        try:
            return fetch()
        except NotFound:
            return None

    wait_for(describe, probe, lambda v: v is None or gone(v), timeout,
             lambda v: None if v is None else failed(v))


def gophercloud_error(exc: CloudError, expected: tuple[int, ...]) -> str:
    """How gophercloud words a refused request (ErrUnexpectedResponseCode): the real provider
    puts this after its own words, e.g. "Error extending ... size: Expected HTTP response code..."."""
    if exc.status is None:
        return exc.message
    codes = " ".join(str(c) for c in expected)
    return (f"Expected HTTP response code [{codes}] when accessing [{exc.request}], "
            f"but got {exc.status} instead: {exc.body.strip()}")
