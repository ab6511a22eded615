"""The form's volume types and the catalog parts a cloud would not show (issue 12, items 3 and 5).
Each volume row offers the cloud's volume types (its default preselected and labelled), writes the
chosen one to `volumes.<tag>.<name>.type`, and keeps a spec's own type, marked when the cloud no
longer offers it. A catalog part that could not be read is named in the form and the quota panel,
and its quotas read "unknown": never "unlimited", never a number."""

from __future__ import annotations

import re

from webfakes import KEY, FakeCatalog
from webhelpers import TestClient, form_fields, read_spec, write_spec

from reconciler.model.settings import Settings

TYPES = [
    {"name": "ssd", "description": "Fast SSD-backed storage", "default": True},
    {"name": "hdd", "description": "", "default": False},
]
REFUSED = "cloud sandbox does not let these credentials read network quotas (403)"


def options(html: str, name: str) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of each option of the select named `name`."""
    select = re.search(rf'<select [^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    found = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select.group(1))
    return [(value, label.replace("&#39;", "'"), bool(sel)) for value, sel, label in found]


def test_each_volume_row_offers_the_clouds_types_with_the_default_chosen(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    catalog.volume_types = TYPES
    html = client.get("/clusters/new").text
    for j in range(3):  # home, project, scratch
        assert options(html, f"vol-{j}-type") == [
            ("ssd", "ssd (default) · Fast SSD-backed storage", True),
            ("hdd", "hdd", False),
        ]
    fields = form_fields(html)
    fields.update({"cluster_name": "demo", "public_keys": KEY, "vol-2-type": "hdd"})
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 303, r.text
    volumes = read_spec(settings, "demo")["volumes"]["nfs"]
    assert volumes["home"] == {"size": 100, "type": "ssd"}
    assert volumes["scratch"] == {"size": 50, "type": "hdd"}


def test_a_row_added_in_the_page_starts_at_the_default_type(client: TestClient, catalog: FakeCatalog) -> None:
    catalog.volume_types = TYPES
    html = client.get("/clusters/new").text
    template = re.search(r'<template id="vol-row-template">(.*?)</template>', html, re.S)
    assert template and options(template.group(1), "vol-__i__-type")[0] == (
        "ssd",
        "ssd (default) · Fast SSD-backed storage",
        True,
    )


def test_a_cloud_without_volume_types_gets_no_select_and_no_type_in_the_spec(
    client: TestClient, settings: Settings
) -> None:
    html = client.get("/clusters/new").text
    assert 'name="vol-0-type"' not in html
    assert "the cloud&#39;s default" in html or "the cloud's default" in html
    fields = form_fields(html)
    fields.update({"cluster_name": "demo", "public_keys": KEY})
    assert client.post("/clusters/new", data=fields).status_code == 303
    assert read_spec(settings, "demo")["volumes"]["nfs"]["home"] == {"size": 100}


def test_editing_keeps_the_specs_type_and_marks_one_the_cloud_no_longer_offers(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    catalog.volume_types = TYPES
    volumes = {"nfs": {"home": {"size": 100, "type": "hdd"}, "old": {"size": 10, "type": "gold"}}}
    write_spec(settings, "alpha", volumes=volumes)
    html = client.get("/clusters/alpha/edit").text
    assert ("hdd", "hdd", True) in options(html, "vol-0-type")
    assert options(html, "vol-1-type")[-1] == ("gold", "gold (not offered by the cloud)", True)
    fields = form_fields(html)
    fields["vol-0-size"] = "120"  # an unrelated change: both types stay as the file has them
    assert client.post("/clusters/alpha/edit", data=fields).status_code == 303
    assert read_spec(settings, "alpha")["volumes"]["nfs"] == {
        "home": {"size": 120, "type": "hdd"},
        "old": {"size": 10, "type": "gold"},
    }


def test_a_volume_without_a_type_keeps_none_when_the_cloud_offers_types(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    """A volume built before types were offered stays on the cloud's default: saving the form
    must not write a type into it (a new type could mean a retyped or replaced volume)."""
    catalog.volume_types = TYPES
    write_spec(settings, "alpha")
    html = client.get("/clusters/alpha/edit").text
    assert options(html, "vol-0-type")[0] == ("", "the cloud's default", True)
    before = (settings.specs_dir / "alpha.yaml").read_text()
    assert client.post("/clusters/alpha/edit", data=form_fields(html)).status_code == 303
    assert (settings.specs_dir / "alpha.yaml").read_text() == before


def test_a_specs_type_is_kept_when_the_cloud_would_not_list_its_types(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    catalog.unknown = {"volume_types": "cloud sandbox did not answer (volume types): timed out"}
    write_spec(settings, "alpha", volumes={"nfs": {"home": {"size": 100, "type": "ssd"}}})
    html = client.get("/clusters/alpha/edit").text
    assert options(html, "vol-0-type") == [("ssd", "ssd (the cloud's volume types could not be read)", True)]
    assert "Volume types: unknown (cloud sandbox did not answer (volume types): timed out)" in html
    assert client.post("/clusters/alpha/edit", data=form_fields(html)).status_code == 303
    assert read_spec(settings, "alpha")["volumes"]["nfs"]["home"] == {"size": 100, "type": "ssd"}


def test_the_form_says_volumes_grow_online_and_never_shrink(client: TestClient) -> None:
    html = client.get("/clusters/new").text
    assert "grow later, while it stays attached (online resize); it never shrinks" in html


def test_a_quota_part_the_cloud_refused_is_unknown_in_the_form(
    client: TestClient, catalog: FakeCatalog
) -> None:
    catalog.unknown = {"network_quotas": REFUSED}
    html = client.get("/clusters/new").text
    assert f'data-unknown-part="network_quotas">Network quotas: unknown ({REFUSED})</p>' in html
    row = re.search(r'<tr data-quota="floating_ips"[^>]*>.*?</tr>', html, re.S)
    assert row and f'data-unknown="{REFUSED}"' in row.group(0)
    assert '<td class="num free">unknown</td>' in row.group(0) and "unlimited" not in row.group(0)
    known = re.search(r'<tr data-quota="cores"[^>]*>.*?</tr>', html, re.S)
    assert known and "data-unknown" not in known.group(0) and ">64<" in known.group(0)
    assert "Volume types: unknown" not in html and "Flavors: unknown" not in html


def test_a_quota_part_the_cloud_refused_is_unknown_in_the_quota_panel(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    catalog.unknown = {
        "network_quotas": REFUSED,
        "volume_quotas": "cloud sandbox answered 503 for volume quotas",
    }
    write_spec(settings, "alpha")
    for url in ("/", "/clusters/alpha"):
        html = client.get(url).text
        assert f"Network quotas: unknown ({REFUSED})" in html, url
        assert "Volume quotas: unknown (cloud sandbox answered 503 for volume quotas)" in html, url
        for key in ("floating_ips", "volumes", "gigabytes"):
            row = re.search(rf'<div class="quota-row unknown" data-quota="{key}">.*?</div>', html, re.S)
            assert row and "unknown: cannot check" in row.group(0) and "unlimited" not in row.group(0), key
        assert re.search(r'data-quota="cores">.*?<strong>64</strong> free of 64', html, re.S), url


def test_every_part_known_shows_no_unknown_notice(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    for url in ("/", "/clusters/new", "/clusters/alpha/edit"):
        html = client.get(url).text
        assert "data-unknown-part" not in html and "data-unknown=" not in html, url
        assert ": unknown (" not in html and "cannot check" not in html, url


def test_a_volume_row_added_and_left_blank_is_dropped(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    catalog.volume_types = TYPES
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "demo", "public_keys": KEY, "vol-3-tag": "nfs", "vol-3-type": "ssd"})
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 303, r.text
    assert set(read_spec(settings, "demo")["volumes"]["nfs"]) == {"home", "project", "scratch"}
