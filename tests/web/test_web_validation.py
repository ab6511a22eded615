"""The form's checks, on the server: every problem of one submit at once (a bad key and a taken
name together), each in the summary linking to its field; flavors that meet their role's minimum
only; the rules handed to the form's script as data (the schema, the name check, the SSH key
tables), and the SSH key table both parsers answer (tests/data/ssh_key_cases.json)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
import webfakes
from starlette.testclient import TestClient
from webfakes import KEY, spec_dict, write_phase
from webhelpers import form_fields, read_spec, write_spec

from reconciler.model.settings import Settings
from reconciler.model.spec import CLUSTER_NAME_RE, SpecError, json_schema, parse_spec
from reconciler.model.sshkeys import KeyProblem, check_public_key

CASES = json.loads((Path(__file__).parent.parent / "data" / "ssh_key_cases.json").read_text())["cases"]
BAD_KEY = next(c["key"] for c in CASES if c["what"] == "ssh-ed25519: cut short")
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("case", CASES, ids=[c["what"] for c in CASES])
def test_the_key_table_is_what_the_parser_says(case: dict[str, Any]) -> None:
    try:
        got: dict[str, Any] = {"type": check_public_key(case["key"]), "problem": None}
    except KeyProblem as exc:
        got = {"type": None, "problem": str(exc)}
    assert got == {"type": case["type"], "problem": case["problem"]}


def new_form(client: TestClient, **values: str) -> dict[str, str]:
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "demo", "public_keys": KEY})
    fields.update(values)
    return fields


def summary(page: str) -> list[tuple[str, str]]:
    """The error summary's items: (the field it links to, its words)."""
    box = re.search(r'<div [^>]*id="form-errors".*?</div>', page, re.S)
    assert box, "no error summary"
    items = re.findall(r'<li data-error-for="[^"]*"><a href="#([^"]+)">(.*?)</li>', box.group(0), re.S)
    return [(target, html.unescape(re.sub(r"<[^>]+>", "", text))) for target, text in items]


def test_a_bad_key_and_a_taken_name_are_reported_together(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "demo")
    page = client.post("/clusters/new", data=new_form(client, public_keys=BAD_KEY, nb_users="5000"))
    assert page.status_code == 422
    items = dict(summary(page.text))
    assert "already exists" in items["cluster_name"]
    assert "this key is cut short" in items["public_keys"]
    assert "at most 1000" in items["nb_users"]
    assert 'role="alert"' in page.text and 'tabindex="-1"' in page.text
    assert "3 problems to fix" in page.text


def test_a_taken_name_alone_is_still_a_409_with_the_form(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "demo")
    page = client.post("/clusters/new", data=new_form(client))
    assert page.status_code == 409
    assert [t for t, _ in summary(page.text)] == ["cluster_name"]


def test_rows_the_form_cannot_use_do_not_hide_the_other_problems(client: TestClient) -> None:
    fields = new_form(client, domain="Not A Domain!")
    fields["inst-2-prefix"] = "mgmt"  # the node group given mgmt's prefix
    fields["inst-1-count"] = "900"
    page = client.post("/clusters/new", data=fields)
    assert page.status_code == 422
    items = dict(summary(page.text))
    assert items["inst-2-prefix"].endswith('prefix "mgmt" is used twice')
    assert "is not a valid domain" in items["domain"]
    assert items["inst-1-count"] == "login count: at most 500"
    assert "add at least one instance group" not in page.text


def test_the_api_lists_a_taken_name_with_the_specs_errors(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "demo")
    body = json.dumps(spec_dict("demo", public_keys=[BAD_KEY]))
    r = client.post("/api/clusters", content=body, headers=JSON)
    assert r.status_code == 422
    paths = [e["path"] for e in r.json()["errors"]]
    assert paths[0] == "cluster_name" and "public_keys.0" in paths
    assert (
        client.post("/api/clusters", content=json.dumps(spec_dict("demo")), headers=JSON).status_code == 409
    )


def test_a_flavor_below_its_roles_minimum_is_refused_for_a_new_group(
    client: TestClient, settings: Settings
) -> None:
    fields = new_form(client)
    fields["inst-0-type"] = "p2-3gb"  # mgmt needs 6 GiB
    page = client.post("/clusters/new", data=fields)
    assert page.status_code == 422
    assert dict(summary(page.text))["inst-0-type"] == (
        'mgmt flavor: flavor "p2-3gb" is below Magic Castle\'s minimum for mgmt (2 vCPUs, 6 GiB RAM); '
        "choose a larger one"
    )
    assert not (settings.specs_dir / "demo.yaml").exists()


def test_an_edit_keeps_a_saved_flavor_that_no_longer_fits_but_marks_it(
    client: TestClient, settings: Settings
) -> None:
    instances = spec_dict()["instances"]
    instances["mgmt"]["type"] = "p2-3gb"
    write_spec(settings, "alpha", instances=instances)
    page = client.get("/clusters/alpha/edit").text
    mgmt = re.search(r'<select id="inst-0-type".*?</select>', page, re.S)
    assert mgmt and "p2-3gb" in mgmt.group(0) and "(below minimum)" in mgmt.group(0)
    assert 'data-saved-type="p2-3gb" data-saved-role="mgmt"' in mgmt.group(0)
    fields = form_fields(page)
    fields["nb_users"] = "7"
    assert client.post("/clusters/alpha/edit", data=fields).status_code == 303
    assert read_spec(settings, "alpha")["nb_users"] == 7
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    fields["inst-1-type"] = "p1-1.5gb"  # a changed choice must meet the minimum
    page = client.post("/clusters/alpha/edit", data=fields).text
    assert "below Magic Castle&#39;s minimum for login" in page


def test_a_role_no_flavor_meets_offers_none_and_says_so(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = [f for f in webfakes.FLAVORS if f["ram"] < 6144]
    monkeypatch.setattr(webfakes, "FLAVORS", small)
    page = client.get("/clusters/new").text
    mgmt = re.search(r'<select id="inst-0-type".*?</select>', page, re.S)
    assert mgmt and [
        html.unescape(o) for o in re.findall(r"<option[^>]*>([^<]*)</option>", mgmt.group(0))
    ] == ["none of this cloud's flavors meets the mgmt minimum"]
    assert re.search(r'<option value="" disabled', mgmt.group(0))
    fields = form_fields(page) | {"cluster_name": "demo", "public_keys": KEY}
    fields["inst-0-type"] = ""
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 422
    assert dict(summary(r.text))["inst-0-type"] == (
        "mgmt flavor: no flavor of this cloud meets Magic Castle's minimum for mgmt (2 vCPUs, 6 GiB RAM)"
    )


def test_the_new_rows_template_offers_only_what_a_node_may_use(client: TestClient) -> None:
    page = client.get("/clusters/new").text
    template = re.search(r'<template id="inst-row-template">.*?</template>', page, re.S)
    assert template and "p2-3gb" in template.group(0) and "p1-1.5gb" not in template.group(0)


def test_the_guest_hint_names_the_accounts_as_the_cluster_page_does(
    client: TestClient, settings: Settings
) -> None:
    assert "user01 … user10, sharing one password." in client.get("/clusters/new").text
    write_spec(settings, "alpha", nb_users=5)
    assert "user1 … user5" in client.get("/clusters/alpha/edit").text


def test_the_name_check_answers_as_the_create_refuses(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "orphan", "build_success", spec_dict("orphan"))
    write_phase(settings.clusters_dir, "gone", "destroyed", spec_dict("gone"))
    answers = {n: client.get(f"/api/names/{n}").json() for n in ("alpha", "orphan", "gone", "fresh")}
    assert not answers["alpha"]["available"] and "already exists" in answers["alpha"]["problem"]
    assert not answers["orphan"]["available"] and "still keeps" in answers["orphan"]["problem"]
    assert answers["gone"] == {"name": "gone", "available": True, "problem": None}
    assert answers["fresh"]["available"]
    bad = client.get("/api/names/Alpha")
    assert bad.status_code == 422 and "not a valid name" in bad.json()["problem"]


def test_the_schema_the_script_reads_is_the_models(client: TestClient, settings: Settings) -> None:
    served = client.get("/api/schema").json()
    assert served == json.loads(json.dumps(json_schema(settings.limits)))
    page = client.get("/clusters/new").text
    embedded = re.search(r'<script type="application/json" id="spec-schema">(.*?)</script>', page, re.S)
    assert embedded and json.loads(embedded.group(1)) == served
    props = served["properties"]
    assert props["nb_users"]["maximum"] == settings.limits.max_nb_users
    assert served["$defs"]["Instance"]["properties"]["count"]["maximum"] == 500


@pytest.mark.parametrize(
    "name", ["ab", "a-1", "demo", "a" * 41, "a" * 42, "1abc", "Abc", "a_b", "a", "demo\n"]
)
def test_the_schemas_name_pattern_accepts_what_the_model_accepts(name: str) -> None:
    pattern = re.compile(json_schema()["properties"]["cluster_name"]["pattern"])
    data = spec_dict(name if name.strip() else "x")
    try:
        parse_spec(data)
        accepted = True
    except SpecError as exc:
        accepted = not any(e.path == "cluster_name" for e in exc.errors)
    # Python's `$` matches before a final newline (JavaScript's does not): the model uses fullmatch
    assert (
        accepted == bool(pattern.search(name) and "\n" not in name) == bool(CLUSTER_NAME_RE.fullmatch(name))
    )


def test_the_script_gets_the_key_tables_and_minimums_as_data(client: TestClient) -> None:
    page = client.get("/clusters/new").text
    found = re.search(r'<script type="application/json" id="form-rules">(.*?)</script>', page, re.S)
    assert found
    rules = json.loads(found.group(1))
    assert "ssh-ed25519" in rules["ssh"]["key_types"] and "ssh-dss" in rules["ssh"]["refused"]
    assert rules["role_minimums"]["mgmt"] == "mgmt (2 vCPUs, 6 GiB RAM)"
    assert 'src="/static/form-check.js' in page
