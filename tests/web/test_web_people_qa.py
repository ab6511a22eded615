"""People and projects, as a newcomer and an admin would try it through the API: creating into a
project that is not theirs is a 403 naming theirs; an admin's spec with no project on a hub with
projects is refused naming the field; a cluster of another project answers exactly as a missing one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from webfakes import spec_dict, two_projects
from webhelpers import TestClient, write_spec

from reconciler.model.settings import Settings
from webview.auth import AuthConfig

HEADER = "X-Remote-User"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return two_projects(tmp_path)


@pytest.fixture
def person(make_client: Callable[..., TestClient]) -> Callable[[str], TestClient]:
    def client(user: str) -> TestClient:
        c = make_client(AuthConfig(proxy_header=HEADER), base_url="http://hub", client=("127.0.0.1", 4000))
        c.headers[HEADER] = user
        return c

    return client


def test_creating_into_another_project_is_403_naming_mine(person: Callable[[str], TestClient]) -> None:
    r = person("alice").post("/api/clusters", json=spec_dict("newone", project="chemistry"))
    assert r.status_code == 403, r.text
    assert "physics" in r.text  # the projects alice may use
    mine = person("alice").post("/api/clusters", json=spec_dict("newone", project="physics"))
    assert mine.status_code == 201, mine.text


def test_an_admins_spec_without_a_project_names_the_field(
    person: Callable[[str], TestClient], settings: Settings
) -> None:
    r = person("carol").post("/api/clusters", json=spec_dict("orphan"))
    assert r.status_code == 422, r.text
    assert "project" in r.text and "chemistry" in r.text and "physics" in r.text
    assert not (settings.specs_dir / "orphan.yaml").exists()


def test_another_projects_cluster_answers_as_a_missing_one(
    person: Callable[[str], TestClient], settings: Settings
) -> None:
    write_spec(settings, "benzene", project="chemistry")
    alice = person("alice")
    theirs, missing = alice.get("/api/clusters/benzene"), alice.get("/api/clusters/nothere")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"].replace("benzene", "X") == missing.json()["error"].replace("nothere", "X")
    for path in ("/clusters/benzene", "/api/clusters/benzene/status", "/api/clusters/benzene/logs"):
        assert alice.get(path).status_code == 404, path
    assert alice.delete("/api/clusters/benzene").status_code == 404
    assert person("bob").get("/api/clusters/benzene").status_code == 200
