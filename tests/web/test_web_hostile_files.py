"""Hostile and broken files seen through the web view: a spec that is a link, a pipe or a device is
listed as invalid with its reason and never shown, written through or read forever; an unreadable
status is shown as the error it is while every other cluster is served; /healthz reports the loop."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from webfakes import FakeCatalog
from webhelpers import BASE_URL, TestClient, csrf_from, write_spec

from reconciler.model.settings import Settings
from reconciler.model.status import Phase, Status, write_status
from webview.app import create_app

JSON = {"Content-Type": "application/json"}
SECRET = "MCHUB_TOKEN=hunter2-do-not-show"


@pytest.fixture
def environ(tmp_path: Path) -> Path:
    """A file that must never reach a page: the hub's environment, a clouds.yaml, a key."""
    path = tmp_path / "environ"
    path.write_text(f"cluster_name: alpha\n# {SECRET}\n")
    return path


def _reads(client: TestClient, name: str) -> list[str]:
    return [
        client.get("/").text,
        client.get("/api/clusters").text,
        client.get(f"/api/clusters/{name}").text,
        client.get(f"/clusters/{name}").text,
        client.get(f"/clusters/{name}/edit").text,
        client.get(f"/partials/clusters/{name}").text,
    ]


def test_a_spec_that_is_a_link_is_never_shown(client: TestClient, settings: Settings, environ: Path) -> None:
    (settings.specs_dir / "alpha.yaml").symlink_to(environ)
    write_spec(settings, "beta")
    for body in _reads(client, "alpha"):
        assert "hunter2" not in body
    data = client.get("/api/clusters/alpha").json()
    assert data["spec_valid"] is False and data["spec_yaml"] == ""
    assert data["spec_errors"][0]["message"].startswith(
        "specs/alpha.yaml is a symbolic link; the hub reads regular files only"
    )
    names = {c["name"]: c["spec"] for c in client.get("/api/clusters").json()["clusters"]}
    assert names == {"alpha": "invalid", "beta": "valid"}


def test_destroying_a_spec_that_is_a_link_copies_nothing(
    client: TestClient, settings: Settings, environ: Path
) -> None:
    link = settings.specs_dir / "alpha.yaml"
    link.symlink_to(environ)
    r = client.delete("/api/clusters/alpha", headers=JSON)
    assert r.status_code == 422 and "symbolic link" in r.text and "hunter2" not in r.text
    token = csrf_from(client, "/clusters/alpha")
    r = client.post("/clusters/alpha/destroy", data={"csrf_token": token, "confirm": "alpha"})
    assert r.status_code == 422 and "symbolic link" in r.text and "hunter2" not in r.text
    assert link.is_symlink() and os.readlink(link) == str(environ)  # still the link, nothing copied
    assert environ.read_text() == f"cluster_name: alpha\n# {SECRET}\n"
    assert sorted(p.name for p in settings.specs_dir.iterdir() if p.suffix == ".yaml") == ["alpha.yaml"]


@pytest.mark.timeout(20)
def test_a_spec_that_is_dev_zero_or_a_pipe_is_refused_at_once(client: TestClient, settings: Settings) -> None:
    (settings.specs_dir / "zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(settings.specs_dir / "pipe.yaml")  # nobody writes it: reading it would block forever
    result: dict[str, object] = {}

    def fetch() -> None:
        result["list"] = client.get("/api/clusters").json()
        result["pipe"] = client.get("/api/clusters/pipe").json()
        result["page"] = client.get("/").status_code

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert result.get("page") == 200, "the web view blocked on a special file"
    listed = {c["name"]: c["spec"] for c in result["list"]["clusters"]}  # type: ignore[index]
    assert listed == {"pipe": "invalid", "zero": "invalid"}
    pipe = result["pipe"]
    assert "named pipe" in pipe["spec_errors"][0]["message"]  # type: ignore[index]


def test_an_oversized_spec_is_refused_unread(client: TestClient, settings: Settings) -> None:
    (settings.specs_dir / "big.yaml").write_text("cluster_name: big\n" + "#" * 300_000 + "\n")
    data = client.get("/api/clusters/big").json()
    assert data["spec_yaml"] == "" and "larger than" in data["spec_errors"][0]["message"]
    assert len(client.get("/clusters/big").text) < 100_000


def test_a_corrupt_status_is_shown_as_an_error_and_the_rest_carries_on(
    client: TestClient, settings: Settings
) -> None:
    write_spec(settings, "alpha")
    write_spec(settings, "beta")
    (settings.clusters_dir / "alpha").mkdir()
    (settings.clusters_dir / "alpha" / "status.json").write_text('{"name": "alpha", "phase": "exploded"')
    write_status(settings.clusters_dir, Status(name="beta", phase=Phase.BUILD_SUCCESS))
    assert client.get("/").status_code == 200
    listed = {c["name"]: c["status"] for c in client.get("/api/clusters").json()["clusters"]}
    assert listed == {"alpha": "plan_error", "beta": "build_success"}
    status = client.get("/api/clusters/alpha/status").json()
    assert status["reason"] == "status_unreadable"
    assert "clusters/alpha/status.json is not a status this hub can read" in status["message"]
    assert client.get("/clusters/alpha").status_code == 200
    assert client.get("/metrics").status_code == 200
    # The web view writes nothing under clusters/: the engine keeps the file aside.
    assert sorted(p.name for p in (settings.clusters_dir / "alpha").iterdir()) == ["status.json"]


def test_a_status_that_is_a_link_is_not_followed(
    client: TestClient, settings: Settings, environ: Path
) -> None:
    write_spec(settings, "alpha")
    (settings.clusters_dir / "alpha").mkdir()
    (settings.clusters_dir / "alpha" / "status.json").symlink_to(environ)
    body = client.get("/api/clusters/alpha/status").text
    assert "hunter2" not in body and "symbolic link" in body


def _app_client(settings: Settings, catalog: FakeCatalog, liveness: Callable[[], bool] | None) -> TestClient:
    return TestClient(create_app(settings, catalog, liveness=liveness), base_url=BASE_URL)


def test_healthz_answers_503_when_the_loop_is_stale(settings: Settings, catalog: FakeCatalog) -> None:
    state = {"alive": True}
    with _app_client(settings, catalog, lambda: state["alive"]) as client:
        r = client.get("/healthz")
        assert r.status_code == 200 and r.json() == {"status": "ok", "loop": "alive"}
        state["alive"] = False
        r = client.get("/healthz")
        assert r.status_code == 503 and r.json()["loop"] == "stale" and "restart" in r.json()["error"]

    def broken() -> bool:
        raise RuntimeError("probe failed")

    with _app_client(settings, catalog, broken) as client:
        assert client.get("/healthz").status_code == 503
    with _app_client(settings, catalog, None) as client:  # a web view without a loop
        assert client.get("/healthz").json() == {"status": "ok"}


def test_a_run_log_link_is_not_followed_by_the_logs_api(
    client: TestClient, settings: Settings, environ: Path
) -> None:
    """The API lists runs through the model; a record that is a link is left out, never read."""
    write_spec(settings, "alpha")
    folder = settings.clusters_dir / "alpha" / "runs"
    folder.mkdir(parents=True)
    (folder / "20261127T120000Z-build-aa.json").symlink_to(environ)
    data = client.get("/api/clusters/alpha/logs").json()
    assert data["runs"] == [] and "hunter2" not in json.dumps(data)
