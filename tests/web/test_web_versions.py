"""No lost updates: a spec's ETag is its file's version; `PUT`/`DELETE` honour `If-Match` (412 with
the current version), the edit form carries the version and answers a stale save with the form
again (409, nothing written), and of racing creates of one name exactly one wins (409 for the rest)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webfakes import KEY, spec_dict
from webhelpers import csrf_from, form_fields, read_spec, write_spec

from reconciler.model.settings import Settings
from reconciler.model.specfiles import SpecExists, VersionMismatch, spec_version, write_spec_file
from webview import context, formpages

JSON = {"Content-Type": "application/json"}


def etag_of(path: Path) -> str:
    return f'"{hashlib.sha256(path.read_bytes()).hexdigest()[:32]}"'


def put(client: TestClient, name: str, data: dict[str, object], **headers: str) -> object:
    return client.put(f"/api/clusters/{name}", content=json.dumps(data), headers={**JSON, **headers})


# -- the API ------------------------------------------------------------------------------------


def test_get_gives_the_spec_files_version_as_etag(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    r = client.get("/api/clusters/alpha")
    assert r.headers["etag"] == etag_of(settings.specs_dir / "alpha.yaml")
    assert r.json()["version"] == r.headers["etag"].strip('"')
    (settings.specs_dir / "alpha.yaml").write_text(
        (settings.specs_dir / "alpha.yaml").read_text() + "# note\n"
    )
    assert client.get("/api/clusters/alpha").headers["etag"] != r.headers["etag"]


def test_put_with_the_current_version_writes_and_gives_the_new_one(
    client: TestClient, settings: Settings
) -> None:
    write_spec(settings, "alpha")
    etag = client.get("/api/clusters/alpha").headers["etag"]
    r = put(client, "alpha", spec_dict("alpha", nb_users=7), **{"If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == etag_of(settings.specs_dir / "alpha.yaml") != etag
    assert client.get("/api/clusters/alpha").headers["etag"] == r.headers["etag"]


def test_put_with_a_stale_version_is_412_with_the_current_one(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    mine = client.get("/api/clusters/alpha").headers["etag"]
    assert put(client, "alpha", spec_dict("alpha", nb_users=3), **{"If-Match": mine}).status_code == 200
    current = (settings.specs_dir / "alpha.yaml").read_bytes()
    r = put(client, "alpha", spec_dict("alpha", nb_users=9), **{"If-Match": mine})  # lost update averted
    assert r.status_code == 412
    assert r.headers["etag"] == etag_of(settings.specs_dir / "alpha.yaml")
    assert (
        r.json()["version"] == r.headers["etag"].strip('"')
        and "changed since you read it" in r.json()["error"]
    )
    assert (settings.specs_dir / "alpha.yaml").read_bytes() == current
    assert read_spec(settings, "alpha")["nb_users"] == 3


@pytest.mark.parametrize(
    ("if_match", "status"),
    [("*", 200), ("W/{etag}", 412), ('"nope", {etag}', 200), ('"nope"', 412)],
)
def test_if_match_forms(client: TestClient, settings: Settings, if_match: str, status: int) -> None:
    write_spec(settings, "alpha")
    etag = client.get("/api/clusters/alpha").headers["etag"]
    assert (
        put(client, "alpha", spec_dict("alpha"), **{"If-Match": if_match.format(etag=etag)}).status_code
        == status
    )


def test_without_if_match_a_put_still_works(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    assert put(client, "alpha", spec_dict("alpha", nb_users=2)).status_code == 200
    assert read_spec(settings, "alpha")["nb_users"] == 2


def test_if_match_on_a_missing_spec_is_412_and_if_none_match_creates_only(
    client: TestClient, settings: Settings
) -> None:
    r = put(client, "delta", spec_dict("delta"), **{"If-Match": "*"})
    assert r.status_code == 412 and r.json()["version"] is None
    assert not (settings.specs_dir / "delta.yaml").exists()
    assert put(client, "delta", spec_dict("delta"), **{"If-None-Match": "*"}).status_code == 201
    assert put(client, "delta", spec_dict("delta"), **{"If-None-Match": "*"}).status_code == 409


def test_delete_honours_if_match(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    r = client.delete("/api/clusters/alpha", headers={**JSON, "If-Match": '"stale"'})
    assert r.status_code == 412 and "ensure" not in read_spec(settings, "alpha")
    etag = client.get("/api/clusters/alpha").headers["etag"]
    assert client.delete("/api/clusters/alpha", headers={**JSON, "If-Match": etag}).status_code == 202
    assert read_spec(settings, "alpha")["ensure"] == "absent"


# -- the edit form --------------------------------------------------------------------------------


def test_a_stale_save_gets_the_form_back_and_writes_nothing(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    assert fields["version"] == etag_of(settings.specs_dir / "alpha.yaml").strip('"')
    write_spec(settings, "alpha", nb_users=42)  # someone else saves meanwhile
    theirs = (settings.specs_dir / "alpha.yaml").read_bytes()
    fields["inst-2-count"] = "4"
    r = client.post("/clusters/alpha/edit", data=fields)
    assert r.status_code == 409
    assert "someone changed this cluster since you opened the form; review and save again" in r.text.lower()
    assert (settings.specs_dir / "alpha.yaml").read_bytes() == theirs
    again = form_fields(r.text)
    assert again["version"] == spec_version(theirs) and again["inst-2-count"] == "4"  # what I typed is kept
    assert 'id="current-spec"' in r.text and "nb_users: 42" in r.text  # and what the file says now
    assert client.post("/clusters/alpha/edit", data=again).status_code == 303  # reviewed: saved
    assert read_spec(settings, "alpha")["instances"]["node"]["count"] == 4


# -- exclusive creates ----------------------------------------------------------------------------


def race(calls: list[Callable[[], int]]) -> list[int]:
    """Run the calls at once (as far as threads go) and return their status codes."""
    barrier = threading.Barrier(len(calls))
    codes: list[int] = [0] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        codes[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return codes


@pytest.mark.parametrize("past_the_precheck", [False, True])
def test_of_racing_creates_exactly_one_wins(
    make_client: Callable[..., TestClient],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    past_the_precheck: bool,
) -> None:
    """API POSTs and form Spawns of one name, at once: one 201/303, the rest 409, one file. With
    the name check before the write disabled, every request reaches the exclusive create."""
    if past_the_precheck:
        monkeypatch.setattr(context, "name_taken", lambda *a: None)  # the API's check (Web.taken)
        monkeypatch.setattr(formpages, "name_taken", lambda *a: None)
    calls: list[Callable[[], int]] = []
    for i in range(6):
        client = make_client()
        body = json.dumps(spec_dict("race", nb_users=i))
        calls.append(lambda c=client, b=body: c.post("/api/clusters", content=b, headers=JSON).status_code)
    for i in range(6):
        client = make_client()
        fields = form_fields(client.get("/clusters/new").text)
        fields.update({"cluster_name": "race", "public_keys": KEY, "nb_users": str(10 + i)})
        calls.append(lambda c=client, f=fields: c.post("/clusters/new", data=f).status_code)
    codes = race(calls)
    assert sorted(codes).count(409) == len(calls) - 1, codes
    assert len([c for c in codes if c in (201, 303)]) == 1, codes
    assert [p.name for p in settings.specs_dir.iterdir()] == ["race.yaml"]  # no temp file left


def test_a_create_loses_to_a_file_made_by_another_writer_meanwhile(tmp_path: Path) -> None:
    """The exclusive create is the link itself, not a check before it: a file that git or an
    editor puts there between the read and the write wins, untouched."""
    path = tmp_path / "alpha.yaml"

    def make(current: str | None) -> str:
        assert current is None
        path.write_text("# written by git\n")
        return "cluster_name: alpha\n"

    with pytest.raises(SpecExists):
        write_spec_file(path, make)
    assert path.read_text() == "# written by git\n"
    assert [p.name for p in tmp_path.iterdir()] == ["alpha.yaml"]


def test_a_conditional_write_holds_the_lock_from_read_to_write(tmp_path: Path) -> None:
    """Two writes conditional on one version, at once: one wins, the other finds the new version."""
    path = tmp_path / "alpha.yaml"
    path.write_text("n: 0\n")
    version = spec_version(path.read_bytes())
    outcomes: list[str] = []

    def write(n: int) -> None:
        try:
            write_spec_file(path, lambda text: f"n: {n}\n", [version])
            outcomes.append("written")
        except VersionMismatch as exc:
            outcomes.append("stale" if exc.current == spec_version(path.read_bytes()) else "?")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["stale"] * 7 + ["written"]


def test_forms_carry_the_version_hidden(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    html = client.get("/clusters/alpha/edit").text
    assert '<input type="hidden" name="version" value="' in html
    assert 'name="version"' not in client.get("/clusters/new").text
    assert csrf_from(client)  # the new form still works
