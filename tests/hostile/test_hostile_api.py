"""Property-based fuzzing of the JSON API's writes: `POST /api/clusters`, `PUT /api/clusters/{name}`,
`POST .../approve`, `.../retry` and `.../preview` (a fake preview), with bodies of random structure,
size and encoding (JSON, YAML, invalid UTF-8, byte order marks, UTF-16, control characters, deep
nesting, huge numbers, duplicate keys) and hostile names in the URL. Each answer comes within 2 s,
is never a 5xx and shows no secret; no other cluster's files change; a guest password given is
stored in the cluster's secret store, never in a spec file, an answer, a log line or git."""

from __future__ import annotations

import json
import os
import stat
from typing import Any
from urllib.parse import quote

import pytest
from hostilefigures import count, examples
from hostilegen import (
    YAML_TYPES,
    bodies,
    given_in,
    json_values,
    names,
    numbers,
    passwords,
    strings,
)
from hostileworld import PROTECTED, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webfakes import spec_dict

# A failing example of a 70 KB body is printed in full, which hypothesis warns about (an error here).
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
FUZZ = settings(
    max_examples=examples(120),
    deadline=None,  # timed by World.call: 2 s per request
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
JSON = "application/json"
PHASES = st.sampled_from(["build_success", "build_error", "awaiting_approval", "invalid", None])
FIELDS = ("domain", "image", "nb_users", "instances", "volumes", "public_keys", "hieradata", "guest_passwd",
          "ensure", "apply", "expires", "cloud", "sudoer_username", "cluster_name", "extra")  # fmt: skip


def _near(name: str, changes: dict[str, Any], password: str | None, ctype: str) -> tuple[str, bytes]:
    """A valid spec of `name` with a few fields changed (and perhaps a guest password), as JSON or
    YAML."""
    data = {**spec_dict(name), **changes}
    if password is not None:
        data["guest_passwd"] = password
    if ctype in YAML_TYPES:
        return ctype, json.dumps(data).encode("utf-8", "surrogatepass")  # JSON is YAML
    return ctype, json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")


def near_valid(name: str) -> st.SearchStrategy[tuple[str, bytes]]:
    """Bodies that pass most checks, so the fuzzing reaches the writers and the secret store."""
    return st.builds(
        _near,
        st.just(name),
        st.dictionaries(st.sampled_from(FIELDS), st.one_of(strings, numbers, json_values), max_size=2),
        st.one_of(st.none(), passwords),
        st.sampled_from(["application/json", "application/yaml"]),
    )


# A request may change the cluster it names; the client refuses URLs over 64 KB.
url_names = names.filter(lambda n: n != "bystander").map(lambda n: n[:2000])
# Mostly the target (a name that exists gets further), else a hostile name (never the bystander's).
aimed = st.builds(lambda a, b, other: "target" if a or b else other, st.booleans(), st.booleans(), url_names)
if_match = st.one_of(st.none(), st.sampled_from(["*", '"0000"', 'W/"x"', "", "\x00", '"' + "a" * 5000 + '"']))


def _headers(world: World, ctype: str, match: str | None = None) -> dict[str, str]:
    headers = dict(world.bearer)
    if ctype:
        headers["Content-Type"] = ctype
    if match is not None:
        headers["If-Match"] = match.encode("latin-1", "replace").decode("latin-1")
    return headers


def _path(name: str) -> str:
    return quote(name.encode("utf-8", "surrogatepass"), safe="")


def _stored(world: World, name: str, body: bytes) -> None:
    """After a write that took a guest password: it is in the cluster's secret store (0600); that
    it is in no spec file, answer or log line, World.case checks."""
    given = given_in(body)
    if not given:
        return
    secrets = world.clusters / name / "secrets.json"
    assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o600
    assert any(p.encode() in secrets.read_bytes() for p in given), "the password given was not kept"


@FUZZ
@given(body=st.one_of(bodies, near_valid("new-one"), near_valid("ghost"), near_valid("bystander")))
def test_a_hostile_create_is_answered_in_time_and_leaves_other_clusters_alone(
    world: World, body: tuple[str, bytes]
) -> None:
    ctype, raw = body
    with world.case():
        r = world.call("POST", "/api/clusters", content=raw, headers=_headers(world, ctype))
        count("POST /api/clusters", r.status_code)
        if r.status_code == 201:
            name = r.json()["name"]
            assert name not in (*PROTECTED, "target"), f"a create took the name of {name}"
            assert (world.specs / f"{name}.yaml").is_file()
            _stored(world, name, raw)


@FUZZ
@given(body=st.one_of(bodies, near_valid("target"), near_valid("target")), name=aimed, match=if_match,
       phase=PHASES)  # fmt: skip
def test_a_hostile_put_is_answered_in_time_and_leaves_other_clusters_alone(
    world: World, body: tuple[str, bytes], name: str, match: str | None, phase: str | None
) -> None:
    ctype, raw = body
    with world.case(phase):
        r = world.call(
            "PUT", f"/api/clusters/{_path(name)}", content=raw, headers=_headers(world, ctype, match)
        )
        count("PUT /api/clusters/{name}", r.status_code)
        if r.status_code in (200, 201):
            _stored(world, name, raw)


@FUZZ
@given(body=st.one_of(bodies, near_valid("target"), near_valid("target")), name=aimed, match=if_match,
       phase=PHASES)  # fmt: skip
def test_a_hostile_preview_is_answered_in_time_and_writes_nothing(
    world: World, body: tuple[str, bytes], name: str, match: str | None, phase: str | None
) -> None:
    ctype, raw = body
    with world.case(phase):
        before = (world.specs / "target.yaml").read_bytes()
        url = f"/api/clusters/{_path(name)}/preview"
        r = world.call("POST", url, content=raw, headers=_headers(world, ctype, match))
        count("POST /api/clusters/{name}/preview", r.status_code)
        assert (world.specs / "target.yaml").read_bytes() == before
        assert sorted(os.listdir(world.specs)) == [".git", "bystander.yaml", "target.yaml"]


plan_bodies = st.one_of(
    bodies,
    st.builds(lambda plan: (JSON, json.dumps({"plan_id": plan}).encode("utf-8", "surrogatepass")),
              st.one_of(st.just("plan-1234"), st.just("plan-1234"), strings, json_values)),
)  # fmt: skip


@FUZZ
@given(body=plan_bodies, name=aimed, phase=st.one_of(st.just("awaiting_approval"), PHASES))
def test_a_hostile_approval_is_answered_in_time_and_approves_only_the_plan_it_names(
    world: World, body: tuple[str, bytes], name: str, phase: str | None
) -> None:
    ctype, raw = body
    with world.case(phase):
        r = world.call(
            "POST", f"/api/clusters/{_path(name)}/approve", content=raw, headers=_headers(world, ctype)
        )
        count("POST /api/clusters/{name}/approve", r.status_code)
        approval = world.specs / ".approvals" / "target.json"
        if r.status_code == 202:
            assert name == "target" and phase == "awaiting_approval"
            assert json.loads(approval.read_text())["plan_id"] == "plan-1234"
        else:
            assert not approval.exists()


@FUZZ
@given(body=bodies, name=aimed, phase=st.one_of(st.just("build_error"), PHASES))
def test_a_hostile_retry_is_answered_in_time_and_retries_only_a_failed_cluster(
    world: World, body: tuple[str, bytes], name: str, phase: str | None
) -> None:
    ctype, raw = body
    with world.case(phase):
        r = world.call(
            "POST", f"/api/clusters/{_path(name)}/retry", content=raw, headers=_headers(world, ctype)
        )
        count("POST /api/clusters/{name}/retry", r.status_code)
        if r.status_code == 202:
            assert name == "target" and phase == "build_error"
        else:
            assert not (world.specs / ".retries" / "target.json").exists()


@FUZZ
@given(body=st.one_of(st.none(), bodies), name=aimed, match=if_match)
def test_a_hostile_delete_is_answered_in_time_and_destroys_only_what_it_says(
    world: World, body: tuple[str, bytes] | None, name: str, match: str | None
) -> None:
    ctype, raw = body or ("", b"")
    with world.case():
        before = (world.specs / "target.yaml").read_bytes()
        url = f"/api/clusters/{_path(name)}"
        r = world.call("DELETE", url, content=raw, headers=_headers(world, ctype, match))
        count("DELETE /api/clusters/{name}", r.status_code)
        after = (world.specs / "target.yaml").read_bytes()
        if r.status_code == 202:
            assert name == "target" and b"ensure: absent" in after
        else:
            assert after == before


def test_no_secret_and_no_given_password_reached_git(world: World) -> None:
    """After the properties above (a module's world is theirs): nothing secret was committed."""
    world.assert_git_clean()
