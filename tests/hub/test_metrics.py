"""/metrics after a real build on the sandbox: clusters by phase, Terraform runs by action and
result with durations, queue depth, drift, and the catalog's fetch errors and age."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from reconciler.cloud.catalog import Catalog
from reconciler.engine.hub import make_hub
from reconciler.engine.metrics import Metrics
from reconciler.model.status import Phase
from webview.app import create_app
from webview.auth import AuthConfig

from .conftest import HubEnv

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(300)]


def series(text: str, name: str) -> dict[str, float]:
    """`name{labels} value` lines of a Prometheus text page, labels -> value."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line[len(name) :].rpartition(" ")
            out[labels] = float(value)
    return out


def test_metrics_after_a_sandbox_build(hubenv: HubEnv) -> None:
    metrics = Metrics()
    catalog = Catalog(hubenv.settings)
    hubenv.hub = make_hub(hubenv.settings, catalog, metrics)  # the real clock: runs take time
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    hubenv.conn.compute.delete_server(hubenv.servers()["node1"].id)
    hubenv.clock.now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=601)
    hubenv.hub = replace(hubenv.hub, clock=hubenv.clock)  # the drift check is due
    assert hubenv.reconcile().drift.detected
    catalog.get("sandbox")  # the pre-flight already asked; this is the cached answer
    app = create_app(hubenv.settings, catalog, AuthConfig(), metrics=metrics)
    with TestClient(app, base_url="http://localhost") as client:
        page = client.get("/metrics")
    catalog.stop()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert series(text, "mchub_clusters")['{phase="build_success"}'] == 1
    assert series(text, "mchub_clusters")['{phase="build_error"}'] == 0
    runs = series(text, "mchub_terraform_runs_total")
    assert runs['{action="build",result="succeeded"}'] == 1
    assert runs['{action="drift",result="succeeded"}'] == 1
    durations = series(text, "mchub_terraform_run_duration_seconds_count")
    assert durations['{action="build"}'] == 1
    assert series(text, "mchub_terraform_run_duration_seconds_sum")['{action="build"}'] > 0
    assert series(text, "mchub_drift_detected_total")[""] == 1
    assert series(text, "mchub_clusters_drifted")[""] == 1
    assert "mchub_reconcile_queue_depth" in text
    assert series(text, "mchub_catalog_fetch_errors")['{cloud="sandbox"}'] == 0
    assert 0 <= series(text, "mchub_catalog_age_seconds")['{cloud="sandbox"}'] < 120
