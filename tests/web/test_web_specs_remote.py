"""The web view with specs from a git remote (settings.specs_remote): a form save is committed as
its person and pushed, a save the remote cannot take stays saved here and says the push is pending
(pushed later by a pull), and the git server's webhook (`POST /hooks/git`) makes the hub pull at
once, with the shared secret in GitHub's, GitLab's or a bearer form, and nothing without it."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from gitremote import Person, bare_remote, git, remote_file, remote_log
from webfakes import FakeCatalog, spec_dict
from webhelpers import BASE_URL, TestClient, form_fields

from reconciler.gitsync.remote import SpecsRemote
from reconciler.model.settings import Settings
from webview import acks
from webview.app import create_app
from webview.auth import AuthConfig

SECRET = "a-webhook-secret-of-some-length"
EVENT = b'{"ref": "refs/heads/main", "commits": [{"id": "abc"}]}'


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return bare_remote(tmp_path / "git", {"alpha.yaml": yaml.safe_dump(spec_dict("alpha"), sort_keys=False)})


@pytest.fixture
def settings(tmp_path: Path, remote: Path) -> Settings:
    return Settings(
        specs_dir=tmp_path / "specs",
        clusters_dir=tmp_path / "clusters",
        specs_remote=str(remote),
        specs_pull_interval=3600.0,  # in these tests only a poke pulls in time
        hook_secret=SECRET,
    )


@pytest.fixture
def clone(settings: Settings) -> Iterator[SpecsRemote]:
    hub_clone = SpecsRemote(settings)
    hub_clone.prepare()
    hub_clone.start()
    yield hub_clone
    hub_clone.stop()


@pytest.fixture
def app_for(catalog: FakeCatalog) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(settings: Settings, clone: SpecsRemote | None, auth: AuthConfig | None = None) -> TestClient:
        app = create_app(settings, catalog, auth, specs_remote=clone)
        client = TestClient(app, base_url=BASE_URL, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(app_for: Callable[..., TestClient], settings: Settings, clone: SpecsRemote) -> TestClient:
    return app_for(settings, clone)


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def count_on_remote(remote: Path) -> int:
    text = remote_file(remote, "alpha.yaml")
    assert text is not None
    return int(yaml.safe_load(text)["instances"]["node"]["count"])


def test_a_form_save_lands_on_the_remote_as_its_person(client: TestClient, remote: Path) -> None:
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    fields["inst-2-count"] = "6"
    saved = client.post("/clusters/alpha/edit", data=fields)
    assert saved.status_code == 303 and f"done={acks.SAVED}" in saved.headers["location"]
    assert count_on_remote(remote) == 6
    assert remote_log(remote)[0].endswith(": Update cluster alpha (web view)")


def test_an_api_create_lands_on_the_remote(client: TestClient, remote: Path) -> None:
    made = client.post("/api/clusters", json=spec_dict("beta"))
    assert made.status_code == 201, made.text
    assert "push_pending" not in made.json()
    assert yaml.safe_load(remote_file(remote, "beta.yaml") or "")["cluster_name"] == "beta"


def test_a_save_the_remote_cannot_take_stays_saved_and_says_so(
    client: TestClient, remote: Path, settings: Settings, clone: SpecsRemote
) -> None:
    away = remote.with_name("moved.git")
    remote.rename(away)  # the git server is down
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    fields["inst-2-count"] = "4"
    saved = client.post("/clusters/alpha/edit", data=fields)
    assert saved.status_code == 303 and f"done={acks.UNPUSHED}" in saved.headers["location"]
    page = client.get(saved.headers["location"])
    assert 'data-kind="unpushed"' in page.text and "not yet pushed to the specs&#39; git remote" in page.text
    assert yaml.safe_load((settings.specs_dir / "alpha.yaml").read_text())["instances"]["node"]["count"] == 4
    assert "Update cluster alpha (web view)" in git(settings.specs_dir, "log", "-1", "--format=%s")
    put = client.put("/api/clusters/beta", json=spec_dict("beta"))
    assert put.status_code == 201 and "not pushed" in put.json()["push_pending"]
    away.rename(remote)  # back: the next pull pushes what waited
    pulled = clone.pull()
    assert pulled.ok and pulled.pushed == 2, pulled.message
    assert count_on_remote(remote) == 4 and remote_file(remote, "beta.yaml") is not None


def test_the_webhook_with_githubs_signature_pulls_now(
    client: TestClient, remote: Path, tmp_path: Path, settings: Settings
) -> None:
    person = Person(tmp_path / "pat", remote)
    person.write("gamma.yaml", yaml.safe_dump(spec_dict("gamma")))
    person.push("add gamma")
    signature = "sha256=" + hmac.new(SECRET.encode(), EVENT, hashlib.sha256).hexdigest()
    hooked = client.post("/hooks/git", content=EVENT, headers={"X-Hub-Signature-256": signature})
    assert hooked.status_code == 202
    assert wait_for(lambda: (settings.specs_dir / "gamma.yaml").exists())


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401),
        (
            {
                "X-Hub-Signature-256": "sha256="
                + hmac.new(b"another secret!!", EVENT, hashlib.sha256).hexdigest()
            },
            401,
        ),
        ({"X-Gitlab-Token": "not-the-secret-at-all"}, 401),
        ({"Authorization": "Bearer not-the-secret-at-all"}, 401),
        ({"X-Gitlab-Token": SECRET}, 202),
        ({"Authorization": f"Bearer {SECRET}"}, 202),
    ],
)
def test_the_webhook_checks_its_secret(
    app_for: Callable[..., TestClient],
    settings: Settings,
    clone: SpecsRemote,
    headers: dict[str, str],
    status: int,
) -> None:
    """No login session nor CSRF token: a machine's request, with the secret or nothing."""
    client = app_for(settings, clone, AuthConfig(token="the-hub-token-for-people"))
    answer = client.post("/hooks/git", content=EVENT, headers=headers)
    assert answer.status_code == status
    if status == 401:
        assert answer.text == "bad or missing webhook secret\n"


def test_the_webhook_refuses_a_huge_body(client: TestClient) -> None:
    answer = client.post("/hooks/git", content=b"x" * (2 << 20), headers={"X-Gitlab-Token": SECRET})
    assert answer.status_code == 413


def test_without_a_secret_there_is_no_webhook(
    app_for: Callable[..., TestClient], tmp_path: Path, remote: Path
) -> None:
    bare = Settings(
        specs_dir=tmp_path / "b" / "specs", clusters_dir=tmp_path / "b" / "clusters", specs_remote=str(remote)
    )
    plain = SpecsRemote(bare)
    plain.prepare()
    client = app_for(bare, plain)
    assert client.post("/hooks/git", content=EVENT, headers={"X-Gitlab-Token": SECRET}).status_code == 404
