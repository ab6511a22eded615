"""One rule, every door: the cluster page, the JSON API and the CLI used to hold their own copies of
the approval check, the "is this name taken" check, the YAML alias guard, the flavor rules and the
/metrics names, and the copies had drifted. Each test here failed on a drifted copy."""

from __future__ import annotations

import argparse
import html
import json
import re
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient
from webfakes import KEY, spec_dict, write_phase
from webhelpers import BASE_URL, csrf_from, form_fields, write_spec

from reconciler.cloud.figures import QUOTA_LABELS, Flavor
from reconciler.engine.metrics import Metrics
from reconciler.entry import cli
from reconciler.model.approvals import read_approval
from reconciler.model.settings import Settings
from reconciler.model.spec import ALIASES_REFUSED
from webview import choices
from webview.app import create_app

JSON = {"Content-Type": "application/json"}


def post(client: TestClient, url: str, data: Any) -> Any:
    return client.post(url, content=json.dumps(data), headers=JSON)


def page_error(text: str) -> str:
    match = re.search(r'<p [^>]*id="action-refused"[^>]*>(.*?)</p>', text, re.S)  # on the cluster page
    assert match, text
    return html.unescape(match.group(1))


def cli_approve(
    settings: Settings, plan_id: str | None, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    args = argparse.Namespace(
        settings=None, specs=str(settings.specs_dir), clusters=str(settings.clusters_dir), name="alpha",
        plan_id=plan_id,
    )  # fmt: skip
    code = cli.cmd_approve(args)
    return code, capsys.readouterr().err.strip().removeprefix("alpha: ")


# -- approvals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [None, "build_success"])
def test_nothing_to_approve_reads_the_same_everywhere(
    client: TestClient, settings: Settings, capsys: pytest.CaptureFixture[str], phase: str | None
) -> None:
    write_spec(settings, "alpha", apply="manual")
    if phase:
        write_phase(settings.clusters_dir, "alpha", phase)
    token = csrf_from(client, "/clusters/new")
    page = client.post("/clusters/alpha/approve", data={"csrf_token": token, "plan_id": "plan-1234"})
    api = post(client, "/api/clusters/alpha/approve", {"plan_id": "plan-1234"})
    code, said = cli_approve(settings, "plan-1234", capsys)
    assert (page.status_code, api.status_code, code) == (409, 409, 1)
    assert page_error(page.text) == api.json()["error"] == said
    assert "no plan awaiting approval" in said
    assert read_approval(settings.specs_dir, "alpha") is None


def test_a_stale_plan_reads_the_same_everywhere(
    client: TestClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(settings, "alpha", apply="manual")
    write_phase(settings.clusters_dir, "alpha", "awaiting_approval")
    token = csrf_from(client, "/clusters/alpha")
    page = client.post("/clusters/alpha/approve", data={"csrf_token": token, "plan_id": "plan-old"})
    api = post(client, "/api/clusters/alpha/approve", {"plan_id": "plan-old"})
    code, said = cli_approve(settings, "plan-old", capsys)
    assert (page.status_code, api.status_code, code) == (409, 409, 1)
    assert page_error(page.text) == api.json()["error"] == said
    assert "plan-old" in said and "plan-1234" in said
    assert read_approval(settings.specs_dir, "alpha") is None


@pytest.mark.parametrize("given", [None, ""])
def test_without_a_plan_id_every_door_refuses_naming_the_waiting_plan(
    client: TestClient, settings: Settings, capsys: pytest.CaptureFixture[str], given: str | None
) -> None:
    write_spec(settings, "alpha", apply="manual")
    write_phase(settings.clusters_dir, "alpha", "awaiting_approval")
    token = csrf_from(client, "/clusters/alpha")
    page = client.post("/clusters/alpha/approve", data={"csrf_token": token, "plan_id": given or ""})
    api = post(client, "/api/clusters/alpha/approve", {} if given is None else {"plan_id": given})
    code, said = cli_approve(settings, given, capsys)
    assert (page.status_code, api.status_code, code) == (409, 409, 1)
    assert page_error(page.text) == api.json()["error"] == said
    assert said.startswith("name the plan you approve: plan plan-1234 (+")
    assert read_approval(settings.specs_dir, "alpha") is None


def test_every_door_approves_the_plan_it_names(
    client: TestClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    write_spec(settings, "alpha", apply="manual")
    write_phase(settings.clusters_dir, "alpha", "awaiting_approval")
    token = csrf_from(client, "/clusters/alpha")
    page = client.post("/clusters/alpha/approve", data={"csrf_token": token, "plan_id": "plan-1234"})
    assert page.status_code == 303
    assert read_approval(settings.specs_dir, "alpha") == "plan-1234"
    (settings.specs_dir / ".approvals" / "alpha.json").unlink()
    assert post(client, "/api/clusters/alpha/approve", {"plan_id": "plan-1234"}).status_code == 202
    assert read_approval(settings.specs_dir, "alpha") == "plan-1234"
    (settings.specs_dir / ".approvals" / "alpha.json").unlink()
    assert cli_approve(settings, "plan-1234", capsys)[0] == 0
    assert read_approval(settings.specs_dir, "alpha") == "plan-1234"


# -- names ---------------------------------------------------------------------------------------


def test_the_api_refuses_an_orphans_name_as_the_page_does(client: TestClient, settings: Settings) -> None:
    # "gamma" was built, then its spec was removed: its Terraform state is still in clusters/gamma/.
    write_phase(settings.clusters_dir, "gamma", "build_success")
    r = post(client, "/api/clusters", spec_dict("gamma"))
    assert r.status_code == 409 and "already exists" in r.json()["error"]
    r = client.put("/api/clusters/gamma", content=json.dumps(spec_dict("gamma")), headers=JSON)
    assert r.status_code == 409 and "restore specs/gamma.yaml" in r.json()["error"]
    assert not (settings.specs_dir / "gamma.yaml").exists()
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "gamma", "public_keys": KEY})
    page = client.post("/clusters/new", data=fields)
    assert page.status_code == 409 and r.json()["error"] in html.unescape(page.text)


def test_a_destroyed_clusters_name_is_free_again(client: TestClient, settings: Settings) -> None:
    write_phase(settings.clusters_dir, "gamma", "destroyed")
    assert post(client, "/api/clusters", spec_dict("gamma")).status_code == 201


# -- the YAML guard ------------------------------------------------------------------------------


def test_the_api_refuses_aliases_with_the_spec_files_words(client: TestClient) -> None:
    text = yaml.safe_dump(spec_dict("beta")).replace("domain: sandbox.localdomain", "domain: &d x.org")
    text += "image: *d\n"
    r = client.post("/api/clusters", content=text, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == ALIASES_REFUSED


# -- flavors, roles and quota labels ---------------------------------------------------------------


def test_the_server_offers_only_flavors_the_role_allows(client: TestClient) -> None:
    # p1-1.5gb meets no role's minimum: the script never offered it, the server's copy did.
    page = client.get("/clusters/new").text
    node_select = re.search(r'<select id="inst-2-type".*?</select>', page, re.S)
    assert node_select and "p2-3gb" in node_select.group(0)
    assert "p1-1.5gb" not in node_select.group(0)


def test_flavor_labels_round_ram_as_the_script_does() -> None:
    assert choices.flavor_label(Flavor("odd", 1, 1000, 0)) == "odd · 1 vCPU · 1 GiB"
    assert choices.flavor_label(Flavor("c4", 4, 15360, 83)) == "c4 · 4 vCPU · 15 GiB · 83 GB disk"


def test_the_script_gets_the_rules_as_data(client: TestClient) -> None:
    page = client.get("/clusters/new").text
    match = re.search(r'<script type="application/json" id="form-rules">(.*?)</script>', page, re.S)
    assert match
    rules = json.loads(match.group(1))
    assert rules["quota_labels"] == QUOTA_LABELS and rules["quota_labels"]["cores"] == "vCPUs"
    assert rules["roles"] == ["mgmt", "login", "node"] and rules["default_role"] == "node"


# -- /metrics ------------------------------------------------------------------------------------


def _families(text: str) -> dict[str, str]:
    return dict(re.findall(r"^# HELP (\S+) (.*)$", text, re.M))


def test_metrics_without_the_hub_are_a_subset_of_the_hubs(settings: Settings, catalog: Any) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    with TestClient(create_app(settings, catalog), base_url=BASE_URL) as c:
        fallback = c.get("/metrics")
    real = _families(Metrics().render().decode())
    mine = _families(fallback.text)
    assert mine and all(real.get(name) == help_text for name, help_text in mine.items()), (mine, real)
    assert fallback.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
