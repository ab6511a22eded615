"""The cluster list for many people (issue 14, item 6), through the real app: the project, owner
(first author in git), age and expiry columns; filters by project, status and text run on the
server from a plain GET form, kept by the page's polls, and never show another project's cluster;
sorting by a query parameter; pages of rows; and the owner lookup and parsing cached, not redone per
request. People arrive as a trusted proxy's header: alice is in physics, bob in chemistry, carol is
an admin."""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from webfakes import FakeCatalog, spec_dict, two_projects, write_phase
from webhelpers import BASE_URL, TestClient, write_spec

from reconciler.model import runs
from reconciler.model.settings import Settings
from webview import listing, state
from webview.app import create_app
from webview.auth import AuthConfig
from webview.gitlog import SpecHistory

HEADER = "X-Remote-User"
HUB = "http://hub.example.org"
PROXY = ("127.0.0.1", 40000)  # the reverse proxy on loopback (trusted by default)
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


def day(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return two_projects(tmp_path)


def git(settings: Settings, *args: str, author: str = "", when: dt.datetime | None = None) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    if author:
        env.update(
            GIT_AUTHOR_NAME=author,
            GIT_AUTHOR_EMAIL=f"{author.split()[0].lower()}@example.org",
            GIT_COMMITTER_NAME=author,
            GIT_COMMITTER_EMAIL="hub@example.org",
        )
    if when:
        env.update(GIT_AUTHOR_DATE=when.isoformat(), GIT_COMMITTER_DATE=when.isoformat())
    subprocess.run(["git", "-C", str(settings.specs_dir), *args], check=True, env=env, capture_output=True)


def commit(settings: Settings, name: str, author: str, days_ago: int, **changes: Any) -> None:
    """specs/<name>.yaml written and committed by `author`, `days_ago` days before NOW."""
    write_spec(settings, name, **changes)
    git(settings, "add", f"{name}.yaml")
    when = NOW - dt.timedelta(days=days_ago)
    git(settings, "commit", "-q", "-m", f"{name}: by {author}", author=author, when=when)


@pytest.fixture
def fleet(settings: Settings) -> Settings:
    """Five clusters in a git work tree, of two projects, in several states:
    quark (physics, Alice, 12 days, expires in 3 days, built), muon (physics, Dave, 2 days, building),
    gluon (physics, Alice, 40 days, build error), benzene (chemistry, Bob, 5 days, awaiting
    approval, expires in 30 days), ethanol (chemistry, Bob, today, destroyed)."""
    git(settings, "init", "-q", "-b", "main")
    commit(settings, "quark", "Alice Tremblay", 12, project="physics", expires=day(3))
    commit(settings, "muon", "Dave Smith", 2, project="physics")
    commit(settings, "gluon", "Alice Tremblay", 40, project="physics")
    commit(settings, "benzene", "Bob Rodriguez", 5, project="chemistry", expires=day(30))
    commit(settings, "ethanol", "Bob Rodriguez", 0, project="chemistry")
    write_phase(settings.clusters_dir, "quark", "build_success", when=NOW)
    write_phase(settings.clusters_dir, "muon", "build_running", when=NOW)
    write_phase(settings.clusters_dir, "gluon", "build_error", when=NOW)
    write_phase(settings.clusters_dir, "benzene", "awaiting_approval", when=NOW)
    write_phase(settings.clusters_dir, "ethanol", "destroyed", when=NOW)
    return settings


@pytest.fixture
def person(make_client: Callable[..., TestClient]) -> Callable[[str], TestClient]:
    def make(user: str) -> TestClient:
        client = make_client(AuthConfig(proxy_header=HEADER), base_url=HUB, client=PROXY, clock=lambda: NOW)
        client.headers[HEADER] = user
        return client

    return make


def rows(page: str) -> list[str]:
    """The cluster names of the list, in the order shown."""
    return re.findall(r'<tr data-cluster="([^"]+)">', page)


def row(page: str, name: str) -> str:
    found = re.search(rf'<tr data-cluster="{name}">(.*?)</tr>', page, re.S)
    assert found, f"no row for {name}"
    return found.group(1)


def cell(page: str, name: str, column: str) -> str:
    found = re.search(rf'<td class="{column}"[^>]*>(.*?)</td>', row(page, name), re.S)
    assert found, f"no {column} cell for {name}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_columns_project_owner_age_and_expires(fleet: Settings, person: Callable[[str], TestClient]) -> None:
    page = person("carol").get("/").text
    assert cell(page, "quark", "project") == "Project physics"
    assert cell(page, "quark", "owner") == "Owner Alice Tremblay"
    assert cell(page, "muon", "owner") == "Owner Dave Smith"
    assert cell(page, "quark", "age") == "Age 12 days"
    assert cell(page, "gluon", "age") == "Age 40 days"
    assert cell(page, "ethanol", "age") == "Age today"
    assert cell(page, "quark", "expires") == f"Expires in 3 days {day(3)}"
    assert cell(page, "benzene", "expires") == f"Expires in 30 days {day(30)}"
    assert cell(page, "muon", "expires") == "–"
    assert f'title="expires {day(3)}, in 3 days (UTC)"' in row(page, "quark")


def test_the_owner_is_the_first_author_not_the_last(
    fleet: Settings, person: Callable[[str], TestClient]
) -> None:
    carol = person("carol")
    assert cell(carol.get("/").text, "quark", "owner") == "Owner Alice Tremblay"
    commit(fleet, "quark", "Dave Smith", 1, project="physics", nb_users=9)  # an edit by someone else
    page = carol.get("/").text
    assert cell(page, "quark", "owner") == "Owner Alice Tremblay"
    assert cell(page, "quark", "age") == "Age 12 days"  # the spec's birth, not its last change
    commit(fleet, "neutron", "Dave Smith", 0, project="physics")  # a push: new HEAD, new row
    assert cell(carol.get("/").text, "neutron", "owner") == "Owner Dave Smith"


def test_without_git_the_owner_is_blank_and_age_comes_from_the_first_run(
    settings: Settings, person: Callable[[str], TestClient]
) -> None:
    write_spec(settings, "quark", project="physics")
    write_spec(settings, "fresh", project="physics")
    started = NOW - dt.timedelta(days=9)
    for when in (started, NOW - dt.timedelta(days=1)):
        record = runs.RunRecord(
            id=runs.new_run_id(when, "apply"), cluster="quark", action="apply", reason="new_spec",
            spec_hash="h", started_at=when, hub_pid=1, result="succeeded",
        )  # fmt: skip
        runs.write_record(settings.clusters_dir, record)
    page = person("alice").get("/").text
    assert cell(page, "quark", "owner") == "–"
    assert cell(page, "quark", "age") == "Age 9 days"  # the first run kept, not the file's time
    assert cell(page, "fresh", "age").startswith("Age ")  # a new spec: since its file was written


def test_filters_by_status_group(fleet: Settings, person: Callable[[str], TestClient]) -> None:
    carol = person("carol")
    assert rows(carol.get("/?status=error").text) == ["gluon"]
    assert rows(carol.get("/?status=building").text) == ["muon"]
    assert rows(carol.get("/?status=built").text) == ["quark"]
    assert rows(carol.get("/?status=waiting").text) == ["benzene"]
    assert rows(carol.get("/?status=destroyed").text) == ["ethanol"]
    page = carol.get("/?status=error").text
    assert "1 of 5 clusters match" in page
    assert rows(carol.get("/?status=no-such-group").text) == ["benzene", "ethanol", "gluon", "muon", "quark"]


def test_text_filter_matches_name_owner_or_project(
    fleet: Settings, person: Callable[[str], TestClient]
) -> None:
    carol = person("carol")
    assert rows(carol.get("/?q=ON").text) == ["gluon", "muon"]  # names, any case
    assert rows(carol.get("/?q=dave").text) == ["muon"]  # the owner
    assert rows(carol.get("/?q=chem").text) == ["benzene", "ethanol"]  # the project
    empty = carol.get("/?q=zzz").text
    assert rows(empty) == [] and "No cluster matches" in empty and "None of your 5 clusters" in empty
    assert "No clusters yet" not in empty


def test_filters_combine_with_who_may_see(fleet: Settings, person: Callable[[str], TestClient]) -> None:
    alice, bob, carol = person("alice"), person("bob"), person("carol")
    assert rows(alice.get("/").text) == ["gluon", "muon", "quark"]
    assert rows(bob.get("/").text) == ["benzene", "ethanol"]
    # another project's clusters stay hidden whatever the filter asks for
    assert rows(alice.get("/?project=chemistry").text) == []
    assert rows(alice.get("/?q=bob").text) == []
    assert rows(bob.get("/partials/dashboard?project=physics&q=quark").text) == []
    assert rows(carol.get("/?project=chemistry&status=destroyed").text) == ["ethanol"]

    # the project filter offers only the caller's projects; an admin gets every project
    def options(page: str) -> list[str]:
        return re.findall(
            r'<option value="([^"]*)"', page.split('id="filter-project"')[1].split("</select>")[0]
        )

    assert options(alice.get("/").text) == ["", "physics"]
    assert options(carol.get("/").text) == ["", "chemistry", "physics"]
    assert "All my projects" in alice.get("/").text and "All projects" in carol.get("/").text


def test_the_filter_form_works_without_javascript_and_polls_keep_it(
    fleet: Settings, person: Callable[[str], TestClient]
) -> None:
    alice = person("alice")
    page = alice.get("/?project=physics&status=error&q=glu&sort=-age").text
    form = re.search(r'<form class="list-filters" method="get" action="/".*?</form>', page, re.S)
    assert form, "a GET form: filtering needs no script"
    assert 'value="glu"' in form.group(0) and '<option value="error" selected>' in form.group(0)
    assert '<option value="physics" selected>' in form.group(0)
    assert '<option value="-age" selected>Oldest first</option>' in form.group(0)  # filtering keeps the order
    poll = re.search(r'data-poll="([^"]+)"', page)
    assert (
        poll
        and html.unescape(poll.group(1)) == "/partials/dashboard?project=physics&status=error&q=glu&sort=-age"
    )
    partial = alice.get(html.unescape(poll.group(1)))
    assert partial.status_code == 200 and rows(partial.text) == ["gluon"]


def test_partials_of_different_filters_have_different_etags(
    fleet: Settings, person: Callable[[str], TestClient]
) -> None:
    alice, bob = person("alice"), person("bob")
    errors = alice.get("/partials/dashboard?status=error")
    etag = errors.headers["etag"]
    assert alice.get("/partials/dashboard?status=error", headers={"If-None-Match": etag}).status_code == 304
    assert alice.get("/partials/dashboard?status=built", headers={"If-None-Match": etag}).status_code == 200
    assert bob.get("/partials/dashboard?status=error", headers={"If-None-Match": etag}).status_code == 200
    write_phase(fleet.clusters_dir, "gluon", "build_running", when=NOW)
    again = alice.get("/partials/dashboard?status=error", headers={"If-None-Match": etag})
    assert again.status_code == 200 and rows(again.text) == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["benzene", "ethanol", "gluon", "muon", "quark"]),
        ("name", ["benzene", "ethanol", "gluon", "muon", "quark"]),
        ("-name", ["quark", "muon", "gluon", "ethanol", "benzene"]),
        ("age", ["ethanol", "muon", "benzene", "quark", "gluon"]),  # youngest first
        ("-age", ["gluon", "quark", "benzene", "muon", "ethanol"]),
        ("expires", ["quark", "benzene", "ethanol", "gluon", "muon"]),  # soonest; none last
        ("-expires", ["benzene", "quark", "ethanol", "gluon", "muon"]),  # none last either way
        ("owner", ["gluon", "quark", "benzene", "ethanol", "muon"]),  # Alice, Bob, Dave; ties by name
        ("status", ["muon", "quark", "gluon", "benzene", "ethanol"]),
        ("bogus", ["benzene", "ethanol", "gluon", "muon", "quark"]),
    ],
)
def test_sorting_on_the_server(
    fleet: Settings, person: Callable[[str], TestClient], sort: str, expected: list[str]
) -> None:
    assert rows(person("carol").get(f"/?sort={sort}").text) == expected


def test_header_links_sort_and_keep_the_filters(fleet: Settings, person: Callable[[str], TestClient]) -> None:
    page = person("carol").get("/?status=error&sort=age").text
    found = re.findall(r'<a class="sort" href="([^"]+)" data-sort="(\w+)"', page)
    links = {column: html.unescape(href) for href, column in found}
    assert links["age"] == "/?status=error&sort=-age"  # sorted by it: the other direction
    assert links["expires"] == "/?status=error&sort=expires"
    assert links["name"] == "/?status=error"
    assert links["changed"] == "/?status=error&sort=-changed"  # most recent first
    assert '<th scope="col" aria-sort="ascending"><a class="sort" href="/?status=error&amp;sort=-age"' in page


def test_a_long_list_comes_in_pages(settings: Settings, person: Callable[[str], TestClient]) -> None:
    for i in range(55):
        write_spec(settings, f"c{i:03d}", project="physics")
    alice = person("alice")
    first = alice.get("/").text
    assert len(rows(first)) == 50 and rows(first)[0] == "c000"
    assert "55 clusters; page 1 of 2" in first and 'rel="next" href="/?page=2"' in first
    second = alice.get("/?page=2").text
    assert rows(second) == [f"c0{i}" for i in range(50, 55)]
    assert rows(alice.get("/?page=99").text) == rows(second)  # past the end: the last page
    narrowed = alice.get("/?q=c05&page=2").text  # one page now: its last, the first
    assert rows(narrowed) == [f"c0{i}" for i in range(50, 55)] and "5 of 55 clusters match" in narrowed


def test_polls_cost_no_git_and_no_parsing_while_nothing_changes(
    fleet: Settings, person: Callable[[str], TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    git_calls: list[tuple[str, ...]] = []
    real_git = SpecHistory._git

    def counted(self: SpecHistory, *args: str) -> str | None:
        git_calls.append(args)
        return real_git(self, *args)

    monkeypatch.setattr(SpecHistory, "_git", counted)
    parsed: list[str] = []
    real_read = state._read_spec

    def counted_read(path: Path, **kw: Any) -> Any:
        parsed.append(path.stem)
        return real_read(path, **kw)

    monkeypatch.setattr(state, "_read_spec", counted_read)
    alice, carol = person("alice"), person("carol")
    alice.get("/")  # each app's first look reads git and every spec
    assert git_calls and cell(carol.get("/").text, "quark", "owner") == "Owner Alice Tremblay"
    git_calls.clear()
    parsed.clear()
    for query in ("", "?status=error", "?q=alice", "?sort=-age", "?project=physics"):
        assert alice.get("/partials/dashboard" + query).status_code == 200
        assert carol.get("/" + query).status_code == 200
    assert git_calls == [] and parsed == []
    commit(fleet, "quark", "Dave Smith", 0, project="physics", nb_users=7)
    assert cell(carol.get("/").text, "quark", "owner") == "Owner Alice Tremblay"
    assert parsed == [] or parsed == ["quark"]  # only the changed spec is read again
    assert 0 < len(git_calls) <= 3  # HEAD, is it a descendant, the log of the new commits


def test_a_spec_in_no_project_is_listed_for_admins_only(
    fleet: Settings, person: Callable[[str], TestClient]
) -> None:
    write_spec(fleet, "stray")  # no project: only admins see it
    write_spec(fleet, "typo", project="phisics")  # unknown project
    assert "stray" not in rows(person("alice").get("/").text)
    carol = person("carol").get("/").text
    assert {"stray", "typo"} <= set(rows(carol))
    assert cell(carol, "stray", "project") == "–"
    options = re.findall(
        r'<option value="([^"]*)"', carol.split('id="filter-project"')[1].split("</select>")[0]
    )
    assert "phisics" in options  # an admin can find specs naming a project the settings lack


def test_one_team_hub_has_no_project_filter(tmp_path: Path) -> None:
    plain = Settings(
        specs_dir=tmp_path / "one-team" / "specs", clusters_dir=tmp_path / "one-team" / "clusters"
    )
    plain.specs_dir.mkdir(parents=True)
    (plain.specs_dir / "alpha.yaml").write_text(yaml.safe_dump(spec_dict("alpha"), sort_keys=False))
    with TestClient(create_app(plain, FakeCatalog()), base_url=BASE_URL) as client:
        page = client.get("/").text
    assert rows(page) == ["alpha"] and 'id="filter-project"' not in page and 'class="project"' not in page
    assert 'id="filter-status"' in page


@pytest.mark.parametrize(
    ("phase", "reason", "invalid", "group"),
    [
        ("pending", "new_spec", False, "waiting"),
        ("pending", "quota_wait", False, "waiting"),
        ("build_success", "quota_wait", False, "waiting"),  # as its chip says: waiting for quota
        ("awaiting_approval", "awaiting_approval", False, "waiting"),
        ("plan_running", "new_spec", False, "building"),
        ("build_running", "new_spec", False, "building"),
        ("destroy_running", "absent_requested", False, "building"),
        ("build_success", "applied", False, "built"),
        ("plan_error", "cloud_error", False, "error"),
        ("build_error", "quota_exceeded", False, "error"),
        ("destroy_error", "timeout", False, "error"),
        ("invalid", "spec_invalid", False, "error"),
        ("pending", "", True, "error"),  # a spec that does not validate, not yet looked at
        ("destroyed", "destroyed", False, "destroyed"),
    ],
)
def test_status_groups(phase: str, reason: str, invalid: bool, group: str) -> None:
    assert listing.status_group(phase, reason, invalid) == group


@pytest.mark.parametrize(
    ("days", "words"),
    [(0, "today"), (1, "1 day"), (59, "59 days"), (60, "2 months"), (400, "13 months"), (800, "2 years")],
)
def test_age_in_words(days: int, words: str) -> None:
    created = NOW - dt.timedelta(days=days, hours=1)
    assert listing.age_words(created, TODAY) == words
