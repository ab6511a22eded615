"""Who did what, through the real app on a real git work tree: web and API changes are commits
authored by the person the proxy names (display name and mail when it gives them), a plain
`git commit` shows its own author, the cluster page lists the spec's history newest first with
what changed in words (never a password), and a page poll runs no git while HEAD stands still."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import yaml
from webfakes import spec_dict
from webhelpers import TestClient, write_spec

from reconciler.model import runs
from reconciler.model.settings import Settings
from webview import gitlog, specdiff
from webview.auth import AuthConfig

PROXY = ("127.0.0.1", 40000)  # the reverse proxy on the hub's host (trusted_proxies: loopback)
JSON = {"Content-Type": "application/json", "Origin": "http://hub.example.org"}
ALICE = {"X-Remote-User": "alice@uni.example", "displayName": "Alice Liddell", "mail": "alice@uni.example"}
BOB = {"X-Remote-User": "bob", "givenName": "Bob", "surname": "Builder", "mail": "bob.builder@uni.example"}


def git(specs: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(specs), *args], capture_output=True, text=True, check=True).stdout


def git_init(specs: Path) -> None:
    git(specs, "init", "-q")


def commit_as(specs: Path, who: str, mail: str, message: str) -> None:
    """A plain commit of everything in specs/, as a person would make it outside the hub."""
    git(specs, "add", "-A")
    env = ["-c", f"user.name={who}", "-c", f"user.email={mail}", "-c", "commit.gpgsign=false"]
    git(specs, *env, "commit", "-q", "-m", message)


@pytest.fixture
def proxied(make_client: Callable[..., TestClient]) -> Callable[[dict[str, str]], TestClient]:
    """A client behind the trusted proxy, sending one person's attribute headers."""

    def make(headers: dict[str, str]) -> TestClient:
        client = make_client(AuthConfig(proxy_header="X-Remote-User"), base_url="http://hub.example.org",
                             client=PROXY)  # fmt: skip
        client.headers.update(headers)
        return client

    return make


def authors(specs: Path) -> list[str]:
    return git(specs, "log", "--format=%an <%ae>|%s").strip().splitlines()


def table(html: str, table_id: str) -> list[str]:
    """The body rows of one table of the page as text, tags dropped."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in rows]


def test_two_people_and_a_plain_commit_each_show_as_the_author(
    settings: Settings, proxied: Callable[[dict[str, str]], TestClient]
) -> None:
    specs = settings.specs_dir
    git_init(specs)
    alice, bob = proxied(ALICE), proxied(BOB)
    created = alice.post("/api/clusters", content=json.dumps(spec_dict("alpha")), headers=JSON)
    assert created.status_code == 201, created.text
    data = spec_dict("alpha")
    data["instances"]["node"]["count"] = 4
    edited = bob.put("/api/clusters/alpha", content=json.dumps(data), headers=JSON)
    assert edited.status_code == 200, edited.text
    # A third person edits the file and commits it with plain git, as with a push.
    text = (specs / "alpha.yaml").read_text().replace("nb_users: 5", "nb_users: 12")
    (specs / "alpha.yaml").write_text(text)
    commit_as(specs, "Carol Operator", "carol@uni.example", "More guest accounts for the workshop")

    assert authors(specs) == [
        "Carol Operator <carol@uni.example>|More guest accounts for the workshop",
        "Bob Builder <bob.builder@uni.example>|Update cluster alpha (web view)",
        "Alice Liddell <alice@uni.example>|Create cluster alpha (web view)",
    ]
    rows = table(alice.get("/clusters/alpha").text, "spec-changes")
    assert len(rows) == 3
    assert "Carol Operator" in rows[0] and "More guest accounts for the workshop" in rows[0]
    assert "Bob Builder" in rows[1] and "instances.node.count 2 -> 4" in rows[1]
    assert "Alice Liddell" in rows[2] and "created" in rows[2]
    assert gitlog.SpecHistory(specs).owner("alpha") == "Alice Liddell"


def test_destroy_and_forget_are_commits_by_the_person(
    settings: Settings, proxied: Callable[[dict[str, str]], TestClient]
) -> None:
    specs = settings.specs_dir
    git_init(specs)
    alice, bob = proxied(ALICE), proxied(BOB)
    assert (
        alice.post("/api/clusters", content=json.dumps(spec_dict("alpha")), headers=JSON).status_code == 201
    )
    assert bob.delete("/api/clusters/alpha", headers=JSON).status_code == 202
    assert alice.post("/api/clusters/alpha/forget", headers=JSON).status_code == 200
    assert authors(specs) == [
        "Alice Liddell <alice@uni.example>|Forget cluster alpha (web view)",
        "Bob Builder <bob.builder@uni.example>|Destroy cluster alpha (web view: ensure absent)",
        "Alice Liddell <alice@uni.example>|Create cluster alpha (web view)",
    ]
    history = gitlog.SpecHistory(specs).entries("alpha")
    assert [c.status for c in history] == ["D", "M", "A"]
    assert history[1].summary == "Destroy cluster alpha (web view: ensure absent)"


def test_without_name_or_mail_the_author_is_the_user_id(
    settings: Settings, proxied: Callable[[dict[str, str]], TestClient]
) -> None:
    git_init(settings.specs_dir)
    dave = proxied({"X-Remote-User": "dave"})
    assert dave.post("/api/clusters", content=json.dumps(spec_dict("alpha")), headers=JSON).status_code == 201
    assert authors(settings.specs_dir) == ["dave <dave@mchub.invalid>|Create cluster alpha (web view)"]


def test_a_password_change_is_told_without_the_password(settings: Settings, client: TestClient) -> None:
    specs = settings.specs_dir
    git_init(specs)
    write_spec(settings, "alpha", guest_passwd="first-secret-word")
    commit_as(specs, "Erin", "erin@uni.example", "Create alpha.yaml")
    write_spec(settings, "alpha", guest_passwd="second-secret-word", nb_users=8)
    commit_as(specs, "Erin", "erin@uni.example", "Update alpha.yaml")
    page = client.get("/clusters/alpha").text
    rows = table(page, "spec-changes")
    assert "nb_users 5 -> 8" in rows[0] and "guest_passwd changed" in rows[0]
    assert "secret-word" not in page


def test_the_page_says_when_specs_is_not_in_git(settings: Settings, client: TestClient) -> None:
    write_spec(settings, "alpha")
    page = client.get("/clusters/alpha").text
    assert "No commits of" in page and 'id="spec-changes"' not in page
    assert gitlog.SpecHistory(settings.specs_dir).owner("alpha") is None
    # The folder becomes a work tree while the hub runs: its history shows from the next look.
    git_init(settings.specs_dir)
    assert "No commits of" in client.get("/clusters/alpha").text  # no commit yet
    commit_as(settings.specs_dir, "Gina", "gina@uni.example", "Adopt alpha")
    assert "Adopt alpha" in table(client.get("/clusters/alpha").text, "spec-changes")[0]


def test_a_long_history_is_capped_with_more(settings: Settings, client: TestClient) -> None:
    specs = settings.specs_dir
    git_init(specs)
    for users in range(1, 26):
        write_spec(settings, "alpha", nb_users=users)
        commit_as(specs, "Frank", "frank@uni.example", "wip")
    page = client.get("/clusters/alpha").text
    assert len(table(page, "spec-changes")) == 20
    assert "5 more changes" in page
    assert "nb_users 24 -> 25" in table(page, "spec-changes")[0]


def test_page_polls_run_no_git_while_head_stands_still(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = settings.specs_dir
    git_init(specs)
    write_spec(settings, "alpha")
    commit_as(specs, "Alice", "alice@uni.example", "First")
    history = gitlog.SpecHistory(specs)
    calls: list[list[str]] = []
    real = subprocess.run

    def counting(args: list[str], **kw: Any) -> Any:
        calls.append(args)
        return real(args, **kw)

    monkeypatch.setattr(gitlog.subprocess, "run", counting)
    assert [c.summary for c in history.entries("alpha")] == ["First"]
    first = len(calls)
    for _ in range(5):
        history.entries("alpha")
        history.owner("alpha")
    assert len(calls) == first  # HEAD did not move: no git at all
    write_spec(settings, "alpha", nb_users=9)
    commit_as(specs, "Bob", "bob@uni.example", "Second")
    assert [c.summary for c in history.entries("alpha")] == ["Second", "First"]
    since = [a for a in calls[first:] if "log" in a]
    assert len(since) == 1 and any(".." in a for a in since[0])  # only the new commits were read


def test_a_run_is_matched_to_the_commit_of_its_spec_content(settings: Settings) -> None:
    """The engine records the spec file's git blob id; the commit that made that content is found
    again (the newest at or before the run), and an uncommitted edit matches none."""
    specs = settings.specs_dir
    git_init(specs)
    write_spec(settings, "alpha")
    commit_as(specs, "Alice", "alice@uni.example", "First")
    first = runs.git_blob_id((specs / "alpha.yaml").read_bytes())
    write_spec(settings, "alpha", nb_users=9)
    commit_as(specs, "Bob", "bob@uni.example", "Second")
    history = gitlog.SpecHistory(specs)
    assert first == git(specs, "rev-parse", "HEAD~1:alpha.yaml").strip()
    found = history.commit_of("alpha", first)
    assert found is not None and found.author == "Alice"
    write_spec(settings, "alpha", nb_users=10)
    assert history.commit_of("alpha", runs.git_blob_id((specs / "alpha.yaml").read_bytes())) is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"a": {"b": 2}}, {"a": {"b": 4}}, "a.b 2 -> 4"),
        ({"a": 1}, {"a": 1, "c": [1, 2]}, "c added: [1, 2]"),
        ({"a": 1, "c": 2}, {"a": 1}, "c removed"),
        ({"hieradata": {"x::password": "s3cretvalue"}}, {"hieradata": {"x::password": "other-value1"}},
         "hieradata.x::password changed"),
        ({"a": 1, "b": 1, "c": 1, "d": 1}, {"a": 2, "b": 2, "c": 2, "d": 2, "e": 2},
         "a 1 -> 2; b 1 -> 2; c 1 -> 2; and 2 more changes"),
        ({"a": 1}, {"a": 1}, "comments or layout only"),
    ],
)  # fmt: skip
def test_spec_changes_in_words(old: dict[str, Any], new: dict[str, Any], expected: str) -> None:
    assert specdiff.summary(yaml.safe_dump(old), yaml.safe_dump(new)) == expected


@pytest.mark.parametrize(
    ("subject", "told"),
    [("Update cluster alpha (web view)", True), ("Update alpha.yaml", True), ("wip", True), ("", True),
     ("More guest accounts for the workshop", False),
     ("Destroy cluster alpha (web view: ensure absent)", False)],
)  # fmt: skip
def test_which_subjects_say_nothing(subject: str, told: bool) -> None:
    assert specdiff.generic(subject) is told
