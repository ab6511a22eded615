"""Property-based fuzzing of the cluster form's posts, with a valid CSRF token and a session:
`/clusters/new` and `/clusters/{name}/edit` (and their Preview buttons), the form's own fields with
hostile values, fields dropped, rows far beyond the form's, unknown fields, more fields than the
parser takes, invalid UTF-8 and random bodies. Each answer comes within 2 s, is never a 5xx and
shows no secret (a password typed is never sent back); no other cluster's files change."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hostilefigures import count, examples
from hostilegen import given_in, names
from hostiletexts import form_body, form_posts
from hostileworld import World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
FUZZ = settings(
    max_examples=examples(100),
    deadline=None,  # timed by World.call: 2 s per request
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
FORM = "application/x-www-form-urlencoded"
odd_bodies = st.tuples(
    st.sampled_from([FORM, "multipart/form-data; boundary=x", "multipart/form-data", "text/plain", ""]),
    st.one_of(
        st.binary(max_size=400),
        st.just(b'--x\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\nzz\r\n--x--\r\n'),
        st.just(b"a=" + b"%ff" * 1000),
        st.just(b"&" * 5000),
    ),
)


def _post(world: World, url: str, fields: list[tuple[str, str]] | None, odd: tuple[str, bytes] | None) -> int:
    if fields is not None:
        content, ctype = form_body(fields), FORM
    else:
        assert odd is not None
        ctype, content = odd
        content = f"csrf_token={world.csrf}&".encode() + content if ctype == FORM else content
    headers = {"Content-Type": ctype} if ctype else {}
    return world.call("POST", url, content=content, headers=headers).status_code


def _kept(world: World, name: str, fields: list[tuple[str, str]] | None) -> None:
    """After a save: a password typed is in the cluster's secret store (that it is in no spec file,
    page or log line, World.case checks)."""
    typed = [p for k, v in fields or [] if k == "guest_passwd" for p in given_in(v.encode())]
    if typed:
        assert typed[-1].encode() in (world.clusters / name / "secrets.json").read_bytes()


@FUZZ
@given(data=st.data(), url=st.sampled_from(["/clusters/new", "/clusters/new/preview"]),
       odd=st.one_of(st.none(), odd_bodies))  # fmt: skip
def test_a_hostile_new_form_is_answered_in_time_and_leaves_other_clusters_alone(
    world: World, data: st.DataObject, url: str, odd: tuple[str, bytes] | None
) -> None:
    fields = None if odd else data.draw(form_posts(world.form_fields))
    with world.case():
        status = _post(world, url, fields, odd)
        count(f"POST {url}", status)
        if status == 303:  # spawned: a new cluster, never one of the others
            created = {p.stem for p in world.specs.glob("*.yaml")} - {"bystander", "target"}
            assert len(created) == 1, created
            _kept(world, created.pop(), fields)


others = names.filter(lambda n: n != "bystander")
aimed = st.builds(lambda a, b, other: "target" if a or b else other, st.booleans(), st.booleans(), others)


@FUZZ
@given(data=st.data(), name=aimed, preview=st.booleans(), odd=st.one_of(st.none(), odd_bodies))
def test_a_hostile_edit_form_is_answered_in_time_and_leaves_other_clusters_alone(
    world: World, data: st.DataObject, name: str, preview: bool, odd: tuple[str, bytes] | None
) -> None:
    fields = None if odd else data.draw(form_posts(world.edit_fields))
    url = f"/clusters/{quote(name[:2000].encode('utf-8', 'surrogatepass'), safe='')}/edit"
    with world.case():
        status = _post(world, url + "/preview" if preview else url, fields, odd)
        count("POST /clusters/{name}/edit" + ("/preview" if preview else ""), status)
        if status == 303:
            assert name == "target"
            _kept(world, name, fields)


def test_no_secret_and_no_typed_password_reached_git(world: World) -> None:
    """After the properties above (a module's world is theirs): nothing secret was committed, and
    no guest password typed in the form."""
    world.assert_git_clean()
