"""Polls cost what changed, not what exists (issue 15): the list's version is a change counter kept
in memory, `GET /api/clusters?since=<version>` answers only what changed after it, a large hub
looks at its files at most once an interval unless told of a write, and the dashboard is paged."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from webfakes import spec_dict, write_phase
from webhelpers import TestClient, write_spec

from reconciler.engine.hub import make_hub
from reconciler.engine.loop import Loop
from reconciler.engine.recorder import Recorder
from reconciler.model.settings import Settings
from reconciler.model.status import Status
from reconciler.terraform import Launcher
from webview import state
from webview.listing import ListQuery, Order, matches, ordered, select
from webview.state import SMALL_HUB, Files

JSON = {"Content-Type": "application/json"}


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


def large_hub(settings: Settings, count: int = SMALL_HUB) -> list[str]:
    made = [f"c{i:03d}" for i in range(count)]
    for name in made:
        write_spec(settings, name)
    return made


def test_a_cluster_told_of_is_looked_at_alone(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`note(name)` makes the next look read that cluster's two files, not every file: a change to
    another cluster, not told of, waits for the interval; the named one shows at once."""
    large_hub(settings)
    files = Files(settings.specs_dir, settings.clusters_dir, interval=60)
    first = files.look()
    full: list[int] = []
    real = Files._take_look
    monkeypatch.setattr(Files, "_take_look", lambda self: full.append(1) or real(self))
    write_phase(settings.clusters_dir, "c001", "build_error")  # nobody tells of this one
    write_phase(settings.clusters_dir, "c042", "build_running")
    files.note("c042")
    seen = files.look()
    delta = seen.since(first.version)
    assert full == [] and delta is not None and [c.name for c in delta[0]] == ["c042"]
    assert seen.by_name["c042"].phase == "build_running" and seen.by_name["c001"].phase == "pending"
    write_spec(settings, "b-new")  # a new cluster told of takes its place in the list
    (settings.specs_dir / "c007.yaml").unlink()  # and one removed goes
    files.note("b-new")
    files.note("c007")
    later = files.look()
    names = [c.name for c in later.clusters]
    assert full == [] and names == sorted(names) and "b-new" in names and "c007" not in names
    delta = later.since(seen.version)
    assert delta is not None and [c.name for c in delta[0]] == ["b-new"]
    assert [c.name for c in delta[1]] == ["c007"]
    files.note()  # no name: every file, and the change nobody told of shows
    assert files.look().by_name["c001"].phase == "build_error" and full == [1]


def test_a_costly_look_is_taken_less_often_but_at_most_ten_seconds_apart() -> None:
    files = Files(Path("/nonexistent/specs"), Path("/nonexistent/clusters"), interval=1.0)
    assert files.interval_now() == 1.0
    files._full_cost = 0.2  # 10,000 clusters: some 0.2 s of stat calls
    assert files.interval_now() == pytest.approx(0.2 / state.LOOK_SHARE)
    files._full_cost = 5.0
    assert files.interval_now() == state.LOOK_LONGEST


def test_a_status_poll_of_a_large_hub_is_answered_from_memory_until_told(
    make_client: Callable[..., TestClient], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster page's poll: a 304 from the last look's signature, without a stat of the file
    (a write nobody told of is not seen within the interval); once told, the new status."""
    monkeypatch.setattr(state, "LOOK_INTERVAL", 60.0)
    large_hub(settings)
    write_phase(settings.clusters_dir, "c005", "build_running")
    client = make_client()
    client.get("/api/clusters")  # a look
    first = client.get("/api/clusters/c005/status")
    etag = first.headers["etag"]
    write_phase(settings.clusters_dir, "c005", "build_success")
    assert client.get("/api/clusters/c005/status", headers={"If-None-Match": etag}).status_code == 304
    client.app.state.files.note("c005")  # type: ignore[attr-defined]
    fresh = client.get("/api/clusters/c005/status", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["status"] == "build_success"


def test_the_web_views_own_saves_show_at_once_on_a_large_hub(
    make_client: Callable[..., TestClient], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "LOOK_INTERVAL", 60.0)
    large_hub(settings)
    client = make_client()
    version = str(since(client, "0")["version"])
    created = client.post("/api/clusters", content=json.dumps(spec_dict("zeta")), headers=JSON)
    assert created.status_code == 201
    assert names(since(client, version)) == ["zeta"]
    version = str(since(client, version)["version"])
    assert client.delete("/api/clusters/zeta", headers=JSON).status_code == 202
    assert names(since(client, version)) == ["zeta"]  # now ensure: absent


def test_the_loops_spec_events_reach_its_listeners(settings: Settings, tmp_path: Path) -> None:
    """`mchub serve` appends Files.note to the loop's listeners: a spec written by git or an editor
    shows at the next poll of a large hub, without waiting for the interval."""
    large_hub(settings)
    files = Files(settings.specs_dir, settings.clusters_dir, interval=60)
    first = files.look()
    hub = make_hub(settings, terraform=Launcher(tmp_path / "no-terraform-here", version="1.0.3"))
    loop = Loop(hub)
    heard: list[str] = []
    loop.listeners += [files.note, heard.append]
    loop.start_watching()
    try:
        write_spec(settings, "c050", nb_users=7)
        deadline = time.monotonic() + 10
        while "c050" not in heard:
            assert time.monotonic() < deadline, "the spec event never reached the listeners"
            time.sleep(0.02)
        delta = files.look().since(first.version)
        assert delta is not None and [c.name for c in delta[0]] == ["c050"]
    finally:
        loop.stop()


@pytest.mark.parametrize("sort", ["name", "-name", "status", "-changed", "expires", "-age", "project"])
def test_the_sorted_index_moved_row_by_row_is_the_order_sorted_afresh(sort: str) -> None:
    """listing.Order.update (a few rows out, a few in) gives the same order and pages as sorting
    every row again, whatever the column, direction and filter."""
    rng = random.Random(sort)

    def row(name: str) -> dict[str, object]:
        group = rng.choice(["built", "error", "waiting", "building"])
        changed = rng.choice([None, float(rng.randint(0, 20))])
        expiry = rng.choice([None, {"date": f"2027-01-{rng.randint(10, 20)}"}])
        project = rng.choice(["", "physics", "chem"])
        return {"name": name, "group": group, "last_change": changed, "expiry": expiry, "project": project,
                "owner": "", "created": None}  # fmt: skip

    rows = {f"c{i:03d}": row(f"c{i:03d}") for i in range(300)}
    for params in ({"sort": sort}, {"sort": sort, "status": "built"}, {"sort": sort, "q": "c1"}):
        query = ListQuery.from_params(params)
        order = Order(rows.values(), query)
        for _ in range(40):
            names_changed = rng.sample(sorted(rows), rng.randint(1, 3))
            old = [rows[n] for n in names_changed]
            for n in names_changed:
                rows[n] = row(n)
            assert order.update(old, [rows[n] for n in names_changed])
            assert order.rows == ordered((r for r in rows.values() if matches(r, query)), query)
        assert order.page(len(rows), 2) == select(list(rows.values()), replace(query, page=2))
