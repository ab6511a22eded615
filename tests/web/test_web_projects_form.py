"""The cluster form and the API with projects (issue 14): people signed in through the proxy's headers
see only their own projects in the form, one project is a fixed line, the figures shown are the
project's cloud's (and follow the project chosen), the SSH keys and sudoer come from the login, a
spec naming no project or an unknown one is a 422 naming the caller's choices, and a project of the
hub that is not theirs is a 403."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from webfakes import KEY, FakeCatalog, spec_dict
from webhelpers import TestClient, form_fields, read_spec, write_spec

from reconciler.model.projects import Project
from reconciler.model.settings import CloudConfig, Settings
from webview.auth import AuthConfig

KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDvWEalZ2UqHg+8g9zoeMp8oUmCK5UItSBMHZOo2ClAA b@example.org"
IMAGES = {"arbutus": ["Rocky-9", "Arbutus-GPU"], "chem": ["Rocky-9", "Chem-Special"]}


class CloudCatalog(FakeCatalog):
    """The fake figures, with each cloud's own images: which cloud a page shows is visible."""

    def payload(self, cloud_name: str | None, cluster: str | None, clusters_dir: Path) -> dict[str, Any]:
        data = super().payload(cloud_name, cluster, clusters_dir)
        return {**data, "images": IMAGES.get(str(cloud_name), data["images"])}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "specs").mkdir()
    (tmp_path / "clusters").mkdir()
    return Settings(
        specs_dir=tmp_path / "specs",
        clusters_dir=tmp_path / "clusters",
        clouds={"arbutus": CloudConfig("arbutus", domains=("arbutus.example",)), "chem": CloudConfig("chem")},
        admins=("carol",),
        projects={
            "physics": Project("physics", "arbutus", ("Alice.Martin@uni.example",), ("physics-staff",)),
            "chemistry": Project("chemistry", "chem", ("bob", "dave")),
        },
    )


@pytest.fixture
def catalog() -> CloudCatalog:
    return CloudCatalog()


@pytest.fixture
def as_user(make_client: Callable[..., TestClient]) -> Callable[..., TestClient]:
    """A client signed in as `user` by the (trusted, local) proxy, with its attribute headers."""

    def make(user: str, keys: str = "", groups: str = "") -> TestClient:
        client = make_client(AuthConfig(proxy_header="X-Remote-User"), client=("127.0.0.1", 50000))
        client.headers.update({"X-Remote-User": user, "sshPublicKey": keys, "isMemberOf": groups})
        return client

    return make


def project_select(page: str) -> list[str]:
    match = re.search(r'<select id="project" name="project"[^>]*>(.*?)</select>', page, re.S)
    assert match, "no project select in the form"
    return re.findall(r'<option value="([^"]*)"', match.group(1))


def post_form(client: TestClient, **changes: str) -> Any:
    fields = form_fields(client.get("/clusters/new").text)
    fields.update(changes)
    return client.post("/clusters/new", data=fields)


def test_one_project_is_a_fixed_line_with_its_clouds_figures_and_the_logins_keys(
    as_user: Callable[..., TestClient], catalog: CloudCatalog, settings: Settings
) -> None:
    alice = as_user("Alice.Martin@uni.example", keys=f"{KEY};{KEY2}")
    page = alice.get("/clusters/new")
    assert page.status_code == 200
    assert '<select id="project"' not in page.text  # nothing to choose
    assert 'Project: <strong id="project-name">physics</strong>' in page.text
    fields = form_fields(page.text)
    assert fields["project"] == "physics" and "cloud" not in fields  # the project chooses the cloud
    assert fields["public_keys"] == f"{KEY}\n{KEY2}"  # the keys the login gave
    assert fields["sudoer_username"] == "alicemartin"  # from the user id, as the pattern allows
    assert fields["domain"] == "arbutus.example"  # the project's cloud's domain
    assert '<strong id="usage-cloud">arbutus</strong>' in page.text
    assert "Arbutus-GPU" in page.text and "Chem-Special" not in page.text  # physics' cloud's images
    assert catalog.calls[-1] == ("arbutus", None)

    r = alice.post("/clusters/new", data=fields)
    assert r.status_code == 303, r.text
    saved = read_spec(settings, fields["cluster_name"])
    assert saved["project"] == "physics" and "cloud" not in saved


def test_the_select_lists_only_the_callers_projects(as_user: Callable[..., TestClient]) -> None:
    dave = as_user("dave", groups="physics-staff;other")  # chemistry by name, physics by group
    assert project_select(dave.get("/clusters/new").text) == ["", "chemistry", "physics"]
    bob = as_user("bob")
    assert '<select id="project"' not in bob.get("/clusters/new").text
    assert form_fields(bob.get("/clusters/new").text)["project"] == "chemistry"
    carol = as_user("carol")  # an admin: every project
    assert project_select(carol.get("/clusters/new").text) == ["", "chemistry", "physics"]
    eve = as_user("eve")  # in no project: may not create at all
    assert eve.get("/clusters/new").status_code == 403


def test_a_user_id_that_does_not_fit_keeps_the_default_sudoer(as_user: Callable[..., TestClient]) -> None:
    page = as_user("1234@uni.example", groups="physics-staff").get("/clusters/new").text
    assert form_fields(page)["sudoer_username"] == "centos"
    assert form_fields(page)["public_keys"] == ""  # no keys header: nothing offered


def test_the_form_refuses_no_project_and_names_only_the_callers_choices(
    as_user: Callable[..., TestClient], settings: Settings
) -> None:
    dave = as_user("dave", groups="physics-staff")
    r = post_form(dave, project="", public_keys=KEY)
    assert r.status_code == 422
    assert "required on this hub; choose one of chemistry, physics" in r.text
    bob = as_user("bob")
    r = post_form(bob, project="biology", public_keys=KEY)
    assert r.status_code == 422
    assert "&#34;biology&#34; is not a project of this hub; choose one of chemistry" in r.text
    assert "physics" not in r.text.split('id="error-list"')[1].split("</ul>")[0]  # not bob's to know
    r = post_form(bob, project="physics", public_keys=KEY)  # the hub's, not bob's
    assert r.status_code == 403
    assert list(settings.specs_dir.glob("*.yaml")) == []  # nothing written


def test_the_figures_follow_the_project_chosen(as_user: Callable[..., TestClient]) -> None:
    dave = as_user("dave", groups="physics-staff")
    chem = dave.get("/api/resources?project=chemistry").json()
    assert chem["cloud"] == "chem" and "Chem-Special" in chem["images"]
    assert dave.get("/api/resources?project=physics").json()["cloud"] == "arbutus"
    bob = as_user("bob")
    r = bob.get("/api/resources?project=physics")
    assert r.status_code == 400 and "choose one of chemistry" in r.text
    assert bob.get("/api/resources?project=chemistry&cloud=arbutus").status_code == 400


def test_the_api_refuses_a_spec_without_a_known_project(
    as_user: Callable[..., TestClient], settings: Settings
) -> None:
    bob = as_user("bob")
    headers = {"X-CSRF-Token": "x", "Content-Type": "application/json"}
    r = bob.post("/api/clusters", json=spec_dict("beta"), headers=headers)
    assert r.status_code == 422
    assert {"path": "project", "message": "required on this hub; choose one of chemistry"} in r.json()[
        "errors"
    ]
    r = bob.post(
        "/api/clusters", json=spec_dict("beta", project="chemistry", cloud="arbutus"), headers=headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "cloud"
    r = bob.post("/api/clusters", json=spec_dict("beta", project="physics"), headers=headers)
    assert r.status_code == 403
    r = bob.post("/api/clusters", json=spec_dict("beta", project="chemistry"), headers=headers)
    assert r.status_code == 201, r.text
    assert read_spec(settings, "beta")["project"] == "chemistry"


def test_an_edit_keeps_the_project_and_may_move_it_to_another_of_the_callers(
    as_user: Callable[..., TestClient], settings: Settings
) -> None:
    write_spec(settings, "alpha", project="chemistry")
    dave = as_user("dave", groups="physics-staff")
    page = dave.get("/clusters/alpha/edit").text
    assert project_select(page) == ["", "chemistry", "physics"]
    fields = form_fields(page)
    assert fields["project"] == "chemistry"
    assert dave.post("/clusters/alpha/edit", data=fields).status_code == 303
    assert read_spec(settings, "alpha")["project"] == "chemistry"
    fields["project"] = "physics"
    assert dave.post("/clusters/alpha/edit", data=fields).status_code == 303
    assert read_spec(settings, "alpha")["project"] == "physics"
    bob = as_user("bob")  # physics' cluster now: not bob's to see
    assert bob.get("/clusters/alpha/edit").status_code == 404
