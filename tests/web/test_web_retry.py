"""Retry now: `mchub retry NAME`, the cluster page's "Retry now" and `POST /api/clusters/{name}/retry`
write one retry request (`specs/.retries/<name>.json`, reconciler.model.retries) for a failed cluster
or one refused by the pre-flight, and refuse (409, exit 1) any other, in the same words."""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import re
from typing import Any

import pytest
from starlette.testclient import TestClient
from webfakes import write_phase
from webhelpers import csrf_from, write_spec

from reconciler.entry import cli
from reconciler.model import retries
from reconciler.model.settings import Settings
from reconciler.model.status import Reason, Status, write_status

JSON = {"Content-Type": "application/json"}
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def post(client: TestClient, url: str, data: Any = None) -> Any:
    return client.post(url, content=json.dumps(data or {}), headers=JSON)


def cli_retry(settings: Settings, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    args = argparse.Namespace(
        settings=None, specs=str(settings.specs_dir), clusters=str(settings.clusters_dir), name=name
    )
    code = cli.cmd_retry(args)
    return code, capsys.readouterr().err.strip().removeprefix(f"{name}: ")


def page_error(text: str) -> str:
    match = re.search(r'<p [^>]*id="action-refused"[^>]*>(.*?)</p>', text, re.S)  # on the cluster page
    assert match, text
    return html.unescape(match.group(1))


def refused_by_preflight(settings: Settings, name: str = "alpha") -> None:
    status = Status(name=name).invalid(NOW, "h1", "needs 12 cores, 4 free", Reason.PREFLIGHT_FAILED)
    write_status(settings.clusters_dir, status)


# -- the three doors -----------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["build_error", "plan_error", "destroy_error", "preflight"])
def test_every_door_asks_for_a_retry_of_a_failed_cluster(
    client: TestClient, settings: Settings, capsys: pytest.CaptureFixture[str], phase: str
) -> None:
    write_spec(settings, "alpha")
    if phase == "preflight":
        refused_by_preflight(settings)
    else:
        write_phase(settings.clusters_dir, "alpha", phase)
    token = csrf_from(client, "/clusters/alpha")
    page = client.post("/clusters/alpha/retry", data={"csrf_token": token})
    assert page.status_code == 303 and page.headers["location"].startswith("/clusters/alpha?since=")
    first = retries.read_retry(settings.specs_dir, "alpha")
    assert first is not None and first.tzinfo is not None
    api = post(client, "/api/clusters/alpha/retry")
    assert api.status_code == 202 and api.json()["requested_by"] and api.json()["name"] == "alpha"
    assert cli_retry(settings, "alpha", capsys)[0] == 0
    last = retries.read_retry(settings.specs_dir, "alpha")
    assert last is not None and last >= first


@pytest.mark.parametrize(
    ("phase", "words"),
    [
        (None, 'cluster "alpha" has not been reconciled yet: there is nothing to retry'),
        ("build_success", 'cluster "alpha" has not failed (phase: build_success)'),
        ("build_running", 'cluster "alpha" has not failed (phase: build_running)'),
        ("awaiting_approval", 'cluster "alpha" has not failed (phase: awaiting_approval)'),
        ("invalid", 'cluster "alpha" has an invalid spec: a retry would fail the same way; fix the spec'),
    ],
)
def test_a_cluster_that_has_not_failed_is_refused_the_same_everywhere(
    client: TestClient, settings: Settings, capsys: pytest.CaptureFixture[str], phase: str | None, words: str
) -> None:
    write_spec(settings, "alpha")
    if phase:
        write_phase(settings.clusters_dir, "alpha", phase)
    token = csrf_from(client, "/clusters/new")
    page = client.post("/clusters/alpha/retry", data={"csrf_token": token})
    api = post(client, "/api/clusters/alpha/retry")
    code, said = cli_retry(settings, "alpha", capsys)
    assert (page.status_code, api.status_code, code) == (409, 409, 1)
    assert page_error(page.text) == api.json()["error"] == said
    assert said.startswith(words)
    assert retries.read_retry(settings.specs_dir, "alpha") is None


def test_retry_routes_guard_like_every_write(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_error")
    assert client.post("/api/clusters/alpha/retry").status_code == 403  # no JSON, token or CSRF header
    assert client.post("/clusters/alpha/retry", data={}).status_code == 403  # no CSRF token
    assert post(client, "/api/clusters/nobody/retry").status_code == 404
    assert retries.read_retry(settings.specs_dir, "alpha") is None


def test_the_cli_refuses_what_is_not_a_cluster_name(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = cli_retry(settings, "../../etc", capsys)
    assert code == 1 and "not a cluster name" in said
    assert not list(settings.specs_dir.parent.rglob("*.json"))


# -- the page ------------------------------------------------------------------------------------


def test_the_page_of_a_failed_cluster_offers_retry_now(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_error")
    page = client.get("/clusters/alpha").text
    assert 'action="/clusters/alpha/retry"' in page and "Retry now" in page and 'id="retry-asked"' not in page
    token = csrf_from(client, "/clusters/alpha")
    client.post("/clusters/alpha/retry", data={"csrf_token": token})
    assert 'id="retry-asked"' in client.get("/partials/clusters/alpha").text
    write_phase(settings.clusters_dir, "alpha", "build_success")  # the retry was taken up, and worked
    assert 'action="/clusters/alpha/retry"' not in client.get("/clusters/alpha").text


def test_a_status_written_after_the_request_means_it_was_taken_up(
    client: TestClient, settings: Settings
) -> None:
    write_spec(settings, "alpha")
    retries.request_retry(settings.specs_dir, "alpha", "bob", NOW)
    write_phase(settings.clusters_dir, "alpha", "build_error", when=NOW + dt.timedelta(seconds=5))
    page = client.get("/clusters/alpha").text
    assert "Retry now" in page and 'id="retry-asked"' not in page


# -- the request file ----------------------------------------------------------------------------


def test_a_retry_request_that_is_not_one_is_no_request(settings: Settings) -> None:
    folder = settings.specs_dir / retries.RETRIES_DIR
    folder.mkdir()
    (settings.specs_dir / "target.json").write_text(json.dumps({"at": NOW.isoformat()}))
    os.symlink(settings.specs_dir / "target.json", folder / "linked.json")
    (folder / "garbage.json").write_text("{not json")
    (folder / "nodate.json").write_text(json.dumps({"at": "yesterday"}))
    (folder / "huge.json").write_text(json.dumps({"at": NOW.isoformat(), "pad": "x" * 10_000}))
    os.mkfifo(folder / "pipe.json")
    for name in ("linked", "garbage", "nodate", "huge", "pipe", "missing"):
        assert retries.read_retry(settings.specs_dir, name) is None, name
    retries.request_retry(settings.specs_dir, "alpha", "bob (cli)", NOW)
    assert retries.read_retry(settings.specs_dir, "alpha") == NOW


def test_the_page_of_a_cluster_refused_by_the_preflight_offers_retry_now(
    client: TestClient, settings: Settings
) -> None:
    write_spec(settings, "alpha")
    refused_by_preflight(settings)
    assert 'action="/clusters/alpha/retry"' in client.get("/clusters/alpha").text
    write_phase(settings.clusters_dir, "alpha", "invalid")  # a spec error: a retry cannot help
    assert 'action="/clusters/alpha/retry"' not in client.get("/clusters/alpha").text


def test_a_retry_with_a_body_over_the_limit_asks_for_nothing(
    client: TestClient, settings: Settings
) -> None:
    """A handler that needs no body reads it first anyway: one over the limit is refused (413)
    before the retry is requested, not after."""
    from webview.app import MAX_BODY

    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_error")
    r = client.post("/api/clusters/alpha/retry", content=b"x" * (MAX_BODY + 1), headers=JSON)
    assert r.status_code == 413
    assert retries.read_retry(settings.specs_dir, "alpha") is None
