"""Polls cost what changed, not what exists (issue 15): the list's version is a change counter kept
in memory, `GET /api/clusters?since=<version>` answers only what changed after it, a large hub
looks at its files at most once an interval unless told of a write, and the dashboard is paged."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable

import pytest
from webfakes import write_phase
from webhelpers import TestClient, write_spec

from reconciler.engine.recorder import Recorder
from reconciler.model.settings import Settings
from reconciler.model.status import Status
from webview import state
from webview.state import SMALL_HUB, Files


def rows(page: str) -> list[str]:
    return re.findall(r'<tr data-cluster="([^"]+)">', page)


def since(client: TestClient, version: str, **headers: str) -> dict[str, object]:
    r = client.get(f"/api/clusters?since={version}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def names(body: dict[str, object]) -> list[str]:
    clusters = body["clusters"]
    assert isinstance(clusters, list)
    return [c["name"] for c in clusters]


def test_since_answers_only_what_changed_and_what_went(client: TestClient, settings: Settings) -> None:
    for name in ("alpha", "beta", "gamma"):
        write_spec(settings, name)
    start = since(client, "0")  # not a version of this hub: the whole list, and where it stands
    assert names(start) == ["alpha", "beta", "gamma"] and start["since"] is None and start["removed"] == []
    version = str(start["version"])
    assert since(client, version) == {"clusters": [], "version": version, "since": version, "removed": []}
    write_phase(settings.clusters_dir, "beta", "build_running")
    (settings.specs_dir / "gamma.yaml").unlink()
    changed = since(client, version)
    assert names(changed) == ["beta"] and changed["removed"] == ["gamma"]
    assert changed["clusters"][0]["status"] == "build_running"  # type: ignore[index]
    assert changed["version"] != version
    later = since(client, str(changed["version"]))
    assert names(later) == [] and later["removed"] == []  # told once: the next poll is empty


def test_a_version_of_another_hub_gets_the_whole_list(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    for stranger in ("ffffffff.1", "garbage", "0.0"):
        body = since(client, stranger)
        assert names(body) == ["alpha"] and body["since"] is None


def test_an_unchanged_list_is_a_304_and_a_change_is_not(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    first = client.get("/api/clusters?since=0")
    etag, version = first.headers["etag"], first.json()["version"]
    poll = client.get(f"/api/clusters?since={version}", headers={"If-None-Match": etag})
    assert poll.status_code == 304
    write_phase(settings.clusters_dir, "alpha", "plan_running")
    again = client.get(f"/api/clusters?since={version}", headers={"If-None-Match": etag})
    assert again.status_code == 200 and names(again.json()) == ["alpha"]


def test_a_large_hub_looks_at_its_files_once_an_interval_unless_told(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(SMALL_HUB):
        write_spec(settings, f"c{i:03d}")
    looked: list[int] = []
    real = Files._take_look

    def counted(self: Files) -> state.Look:
        looked.append(1)
        return real(self)

    monkeypatch.setattr(Files, "_take_look", counted)
    files = Files(settings.specs_dir, settings.clusters_dir, interval=60)
    first = files.look()
    for _ in range(50):
        assert files.look() is first  # many polls, one look
    assert len(looked) == 1
    write_phase(settings.clusters_dir, "c007", "build_running")
    assert files.look().version == first.version  # not told, within the interval: not seen yet
    files.note()  # told of a write (the hub's recorder, the web view's own save)
    seen = files.look()
    assert len(looked) == 2 and seen.version != first.version
    delta = seen.since(first.version)
    assert delta is not None and [c.name for c in delta[0]] == ["c007"]


def test_a_large_hub_shows_a_change_within_its_interval(
    make_client: Callable[..., TestClient], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "LOOK_INTERVAL", 0.3)
    for i in range(SMALL_HUB + 5):
        write_spec(settings, f"c{i:03d}")
    client = make_client()
    etag = client.get("/partials/dashboard").headers["etag"]
    write_phase(settings.clusters_dir, "c003", "build_error")
    deadline = time.monotonic() + 5
    while client.get("/partials/dashboard", headers={"If-None-Match": etag}).status_code == 304:
        assert time.monotonic() < deadline, "the change never showed"
        time.sleep(0.05)


def test_the_dashboard_comes_fifty_a_page(client: TestClient, settings: Settings) -> None:
    for i in range(120):
        write_spec(settings, f"c{i:03d}")
    first = client.get("/")
    assert rows(first.text) == [f"c{i:03d}" for i in range(50)]
    assert "page 1 of 3" in first.text
    assert rows(client.get("/partials/dashboard?page=3").text) == [f"c{i:03d}" for i in range(100, 120)]
    backwards = client.get("/?sort=-name").text  # sorted on the server, before the page is cut
    assert rows(backwards)[:2] == ["c119", "c118"] and len(rows(backwards)) == 50


def test_the_hubs_recorder_tells_the_web_view_at_once(settings: Settings) -> None:
    """`mchub serve` hands the recorder Files.note: a status the hub writes shows at the next poll
    of a large hub, without waiting for the interval."""
    for i in range(SMALL_HUB):
        write_spec(settings, f"c{i:03d}")
    files = Files(settings.specs_dir, settings.clusters_dir, interval=60)
    recorder = Recorder(settings.clusters_dir, listeners=[files.note])
    first = files.look()
    recorder.record(Status(name="c042").unreadable(dt.datetime.now(dt.UTC), "bench", None))
    delta = files.look().since(first.version)
    assert delta is not None and [c.name for c in delta[0]] == ["c042"]
