"""The web view edits a spec file as a person would: comments and key order stay, keys the form
does not show (`ensure`, `expires`, keys of a newer hub) stay, and a destroyed cluster's form does
not bring it back unless asked ("Build it again"). Through the form, the API and destroy."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from starlette.testclient import TestClient
from webfakes import KEY, spec_dict
from webhelpers import csrf_from, form_fields, read_spec, write_spec

from reconciler.model.settings import Settings
from reconciler.model.spec import ClusterSpec, parse_yaml
from reconciler.model.specedit import apply_values, guess_indents, set_ensure_absent
from webview.forms import FORM_KEYS

JSON = {"Content-Type": "application/json"}
COMMENTED = f"""\
# Teaching cluster of the physics group. Ask Alice before resizing.
instances:
  # smallest flavors that pass Magic Castle's minimums
  mgmt:  {{type: p4-6gb, tags: [puppet, mgmt, nfs], count: 1}}
  login: {{type: p2-3gb, tags: [login, public, proxy], count: 1}}
  node:  {{type: p2-3gb, tags: [node], count: 2}}   # grow for the March course
public_keys:
  - {KEY}   # alice
cluster_name: alpha
image: Rocky-9  # pinned: the course notes assume it
domain: sandbox.localdomain
volumes:
  nfs:
    home: {{size: 100}}   # 2 GB per student
nb_users: 5
"""


def top_keys(text: str) -> list[str]:
    return list(yaml.safe_load(text))


def comments(text: str) -> list[str]:
    return [line[line.index("#") :] for line in text.splitlines() if "#" in line]


def write_text(settings: Settings, name: str, text: str) -> None:
    (settings.specs_dir / f"{name}.yaml").write_text(text)


def spec_text(settings: Settings, name: str) -> str:
    return (settings.specs_dir / f"{name}.yaml").read_text()


def test_a_form_edit_keeps_comments_and_key_order(client: TestClient, settings: Settings) -> None:
    write_text(settings, "alpha", COMMENTED)
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    fields["inst-2-count"] = "6"
    assert client.post("/clusters/alpha/edit", data=fields).status_code == 303
    text = spec_text(settings, "alpha")
    assert comments(text) == comments(COMMENTED)
    assert top_keys(text) == top_keys(COMMENTED)  # no key added (cloud, apply, hieradata: defaults)
    assert read_spec(settings, "alpha")["instances"]["node"]["count"] == 6
    assert "node: {type: p2-3gb, tags: [node], count: 6}" in text  # its flow style too


def test_an_api_put_keeps_comments_and_key_order(client: TestClient, settings: Settings) -> None:
    write_text(settings, "alpha", COMMENTED)
    spec = client.get("/api/clusters/alpha").json()["spec"]  # every field, defaults included
    spec["volumes"]["nfs"]["home"]["size"] = 200
    r = client.put("/api/clusters/alpha", content=json.dumps(spec), headers=JSON)
    assert r.status_code == 200, r.text
    text = spec_text(settings, "alpha")
    assert comments(text) == comments(COMMENTED)
    assert top_keys(text) == top_keys(COMMENTED)
    assert "home: {size: 200}   # 2 GB per student" in text


def test_destroy_keeps_comments_and_key_order(client: TestClient, settings: Settings) -> None:
    write_text(settings, "alpha", COMMENTED)
    token = csrf_from(client, "/clusters/alpha")
    assert (
        client.post("/clusters/alpha/destroy", data={"csrf_token": token, "confirm": "alpha"}).status_code
        == 303
    )
    text = spec_text(settings, "alpha")
    assert comments(text) == comments(COMMENTED)
    assert top_keys(text) == [*top_keys(COMMENTED), "ensure"]


def test_the_form_keeps_ensure_and_expires_it_does_not_change(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha", expires="2027-03-31", apply="manual")
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    fields["nb_users"] = "8"
    assert client.post("/clusters/alpha/edit", data=fields).status_code == 303
    saved = read_spec(settings, "alpha")
    assert saved["expires"] == "2027-03-31" and saved["apply"] == "manual" and saved["nb_users"] == 8
    assert "ensure" not in saved


def test_saving_a_destroyed_clusters_form_keeps_it_destroyed(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha", ensure="absent")
    html = client.get("/clusters/alpha/edit").text
    assert 'id="rebuild-box"' in html and "Build it again" in html
    fields = form_fields(html)
    fields.pop("rebuild", None)  # not ticked
    fields["inst-2-count"] = "3"
    assert client.post("/clusters/alpha/edit", data=fields).status_code == 303
    saved = read_spec(settings, "alpha")
    assert saved["ensure"] == "absent" and saved["instances"]["node"]["count"] == 3
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    fields["rebuild"] = "yes"  # ticked: build it again
    assert client.post("/clusters/alpha/edit", data=fields).status_code == 303
    assert read_spec(settings, "alpha")["ensure"] == "present"
    assert 'id="rebuild-box"' not in client.get("/clusters/alpha/edit").text


def test_a_present_cluster_has_no_rebuild_box_and_ignores_a_forged_one(
    client: TestClient, settings: Settings
) -> None:
    write_spec(settings, "alpha")
    html = client.get("/clusters/alpha/edit").text
    assert 'id="rebuild-box"' not in html
    fields = form_fields(html)
    fields["rebuild"] = "yes"
    assert client.post("/clusters/alpha/edit", data=fields).status_code == 303
    assert "ensure" not in read_spec(settings, "alpha")


def test_an_unknown_key_is_never_dropped(client: TestClient, settings: Settings) -> None:
    """A key this hub's model does not know makes the spec invalid; a form save neither drops it
    nor writes around it: it is refused, with the key named, and the file stays as it was."""
    write_text(settings, "alpha", COMMENTED + "billing_code: physics  # a newer hub's field\n")
    before = spec_text(settings, "alpha")
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    fields["inst-2-count"] = "6"
    r = client.post("/clusters/alpha/edit", data=fields)
    assert r.status_code == 422 and "billing_code: unknown field" in r.text
    assert spec_text(settings, "alpha") == before


# -- the round-trip writer ------------------------------------------------------------------------


def form_values(text: str, **changes: object) -> dict[str, object]:
    values = parse_yaml(text).model_dump(mode="python", exclude_none=True)
    values.update(changes)
    return values


def test_keys_outside_the_form_survive_an_edit() -> None:
    """Future keys (top level and inside an instance) and `ensure` are not the form's to change."""
    text = (
        COMMENTED.replace(
            "  node:  {type: p2-3gb, tags: [node], count: 2}",
            "  node:  {type: p2-3gb, tags: [node], count: 2, gpu_slices: 2}",
        )
        + "ensure: absent\nbilling_code: physics\n"
    )
    base = parse_yaml(COMMENTED + "ensure: absent\n")
    values = base.model_dump(mode="python", exclude_none=True)
    values["instances"]["node"]["count"] = 5
    out = apply_values(text, values, FORM_KEYS)
    data = yaml.safe_load(out)
    assert data["billing_code"] == "physics" and data["ensure"] == "absent"
    assert data["instances"]["node"] == {"type": "p2-3gb", "tags": ["node"], "count": 5, "gpu_slices": 2}
    replaced = yaml.safe_load(apply_values(text, values, ClusterSpec.model_fields, replace=True))
    assert "billing_code" not in replaced  # a PUT replaces
    assert "gpu_slices" not in replaced["instances"]["node"]


def test_defaults_are_not_added_and_removed_values_go() -> None:
    values = form_values(COMMENTED)
    values.pop("nb_users")  # e.g. the API's PUT without it
    out = apply_values(COMMENTED, values, ClusterSpec.model_fields, replace=True)
    assert "nb_users" not in out and "hieradata" not in out and "ensure" not in out
    assert "sudoer_username" not in out and top_keys(out) == [
        k for k in top_keys(COMMENTED) if k != "nb_users"
    ]


def test_a_save_that_changes_nothing_leaves_the_file_as_it_was(
    client: TestClient, settings: Settings
) -> None:
    assert apply_values(COMMENTED, form_values(COMMENTED), FORM_KEYS) == COMMENTED
    write_text(settings, "alpha", COMMENTED)
    etag = client.get("/api/clusters/alpha").headers["etag"]
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    assert client.post("/clusters/alpha/edit", data=fields).status_code == 303
    assert spec_text(settings, "alpha") == COMMENTED  # same version: nobody else's form goes stale
    assert client.get("/api/clusters/alpha").headers["etag"] == etag


def test_an_edit_changes_only_the_lines_it_must() -> None:
    out = apply_values(COMMENTED, form_values(COMMENTED, nb_users=6), FORM_KEYS)
    changed = [(a, b) for a, b in zip(COMMENTED.splitlines(), out.splitlines(), strict=True) if a != b]
    assert ("nb_users: 5", "nb_users: 6") in changed
    spaces = lambda line: re.sub(r"\s+", " ", line)  # noqa: E731
    assert all(spaces(a) == spaces(b) for a, b in changed if a != "nb_users: 5")  # the aligning spaces only


def test_new_text_of_several_lines_is_a_block() -> None:
    out = apply_values(COMMENTED, form_values(COMMENTED, hieradata="a: 1\nb: 2\n"), FORM_KEYS)
    assert "hieradata: |\n  a: 1\n  b: 2\n" in out and parse_yaml(out).hieradata == "a: 1\nb: 2\n"


@pytest.mark.parametrize(
    ("text", "indents"),
    [
        (yaml.safe_dump(spec_dict("alpha"), sort_keys=False), (2, 2, 0)),  # PyYAML's own style
        (COMMENTED, (2, 4, 2)),
        ("a:\n    b:\n        - x\n", (4, 6, 4)),
        ("hieradata: |\n      x:\n        - y\ncluster_name: a\n", (2, 2, 0)),  # text, not YAML
    ],
)
def test_the_files_indentation_is_kept(text: str, indents: tuple[int, int, int]) -> None:
    assert guess_indents(text) == indents


def test_set_ensure_absent_on_a_spec_that_does_not_validate() -> None:
    out = set_ensure_absent("# broken\ncluster_name: alpha\nimage: Rocky-9\n")
    assert out == "# broken\ncluster_name: alpha\nimage: Rocky-9\nensure: absent\n"


def test_a_file_that_is_not_yaml_is_rewritten_in_full_by_the_form(
    client: TestClient, settings: Settings
) -> None:
    """Nothing in it can be kept: the edit form (which showed its errors) writes what it says."""
    write_text(settings, "alpha", "cluster_name: alpha\ninstances: [unclosed\n")
    html = client.get("/clusters/alpha/edit").text
    assert "invalid YAML" in html
    fields = form_fields(html)
    fields.update({"domain": "sandbox.localdomain", "public_keys": KEY, "inst-0-prefix": "node"})
    fields.update({"inst-0-type": "p2-3gb", "inst-0-tags": "node", "inst-0-count": "1"})
    r = client.post("/clusters/alpha/edit", data=fields)
    assert r.status_code == 303, r.text
    assert read_spec(settings, "alpha")["instances"] == {
        "node": {"type": "p2-3gb", "tags": ["node"], "count": 1}
    }
