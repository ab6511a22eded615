"""The failing examples the hostile-input properties found, written down, each with what the hub must
do. All six were fixed in the product (commits 8ca602f, d7a1475, fef58b8 and ee34f19). While a bug
is open its test is marked xfail(strict=True, raises=AssertionError) with the file and function at
fault, and the properties step around its input (marked OPEN BUG there), so that one bug fails one
test and XPASS says when it is fixed: then the mark and the step-around go."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from hostileworld import World
from webfakes import spec_dict

from reconciler.model.spec import MAX_SPEC_BYTES

JSON = "application/json"


def _answer(world: World, method: str, url: str, **kw: object) -> tuple[int, str]:
    """The status and body of one request; an exception out of the app is the 500 a client gets."""
    try:
        response = world.client.request(method, url, **kw)  # type: ignore[arg-type]
    except Exception as exc:  # the test client raises what the app raised
        return 500, f"{type(exc).__name__}: {exc}"
    return response.status_code, response.text


@pytest.mark.parametrize("body", [
    pytest.param('{"plan_id": "\\ud800"}', id="plan id"),
    pytest.param(json.dumps(spec_dict("target", instances={"\ud800": {"type": "p2-3gb"}})),
                 id="instance prefix"),
    pytest.param(json.dumps(spec_dict("target", domain="\ud800")), id="domain"),
])  # fmt: skip
def test_a_body_with_a_lone_surrogate_is_refused_not_a_500(world: World, body: str) -> None:
    """Was a 500: load_json (reconciler/model/spec.py) let a JSON escape of a lone surrogate through,
    and the answer quoting it (approve's 409, a 422 naming a prefix or a domain) could not be encoded
    by webview/app.py's JSONResponse."""
    with world.case("awaiting_approval"):
        headers = {**world.bearer, "Content-Type": JSON}
        url = "/api/clusters/target/approve" if "plan_id" in body else "/api/clusters/target"
        status, text = _answer(
            world, "POST" if "plan_id" in body else "PUT", url, content=body, headers=headers
        )
        assert status in (409, 422), (status, text)


@pytest.mark.parametrize("method, url, phase", [
    ("POST", "/api/clusters/target/retry", "build_error"),
    ("DELETE", "/api/clusters/target", "build_success"),
], ids=["retry", "delete"])  # fmt: skip
def test_a_request_with_a_body_over_the_limit_does_nothing_and_says_so(
    world: World, method: str, url: str, phase: str
) -> None:
    """Was: the retry requested or the cluster marked absent (and committed), then a 413. Starlette's
    body limit refuses a body only as it is read, and webview/api.py retry and delete_cluster did
    not read theirs."""
    with world.case(phase):
        spec = (world.specs / "target.yaml").read_bytes()
        headers = {**world.bearer, "Content-Type": JSON}
        status, _ = _answer(world, method, url, content=b" " * (300 * 1024), headers=headers)
        assert status == 413
        assert not (world.specs / ".retries" / "target.json").exists(), "the retry was requested"
        assert (world.specs / "target.yaml").read_bytes() == spec, "the cluster was marked absent"


@pytest.mark.parametrize("method, url", [
    ("DELETE", "/api/clusters/target"), ("POST", "/clusters/target/destroy"),
], ids=["api", "form"])  # fmt: skip
def test_destroying_a_spec_nested_past_the_limit_is_refused_in_time(
    world: World, method: str, url: str
) -> None:
    """Was a 500 after 3 to 5 s: reconciler/model/specedit.py set_ensure_absent (DELETE and the
    destroy button) loaded the file with ruamel, which recurses, without the spec parser's guard."""
    deep = b"x: " + b"[" * 1000 + b"]" * 1000 + b"\n"  # 2 KB, far below MAX_SPEC_BYTES
    assert len(deep) < MAX_SPEC_BYTES
    with world.case():
        (world.specs / "target.yaml").write_bytes(deep)
        kw: dict[str, object] = {"headers": world.bearer}
        if method == "POST":
            kw = {"data": {"csrf_token": world.csrf, "confirm": "target"}}
        started = time.perf_counter()
        status, text = _answer(world, method, url, **kw)
        assert status == 422 and "nested more than" in text, (status, text[:300])
        assert time.perf_counter() - started < 2
        assert (world.specs / "target.yaml").read_bytes() == deep


@pytest.mark.parametrize("action, folder, phase, body", [
    ("approve", ".approvals", "awaiting_approval", {"plan_id": "plan-1234"}),
    ("retry", ".retries", "build_error", {}),
])  # fmt: skip
def test_a_request_over_a_folder_is_refused_with_a_reason(
    world: World, action: str, folder: str, phase: str, body: dict[str, str]
) -> None:
    """Was a 500 naming nothing: approvals.approve and retries.request_retry rename over whatever is
    at their path, and webview/app.py's OSError handler raised the IsADirectoryError again."""
    with world.case(phase):
        (world.specs / folder / "target.json").mkdir(parents=True)
        headers = {**world.bearer, "Content-Type": JSON}
        status, text = _answer(world, "POST", f"/api/clusters/target/{action}", json=body, headers=headers)
        assert 400 <= status < 500 and f"{folder}/target.json" in text, (status, text[:300])


BROKEN_WITH_PASSWORD = {  # a hand-written password on a line that ruamel's refusal used to quote
    "key twice": "guest_passwd: {p}\n{spec}guest_passwd: []\n",
    "unterminated quote": '{spec}guest_passwd: "{p}\n',
    "tab after it": "{spec}guest_passwd: {p}\t\n\t",
}


@pytest.mark.parametrize("broken", sorted(BROKEN_WITH_PASSWORD))
@pytest.mark.parametrize("method, url", [
    ("DELETE", "/api/clusters/target"), ("POST", "/clusters/target/destroy"),
], ids=["api", "form"])  # fmt: skip
def test_a_destroy_refused_for_broken_yaml_never_quotes_its_password(
    world: World, method: str, url: str, broken: str
) -> None:
    """Was: reconciler/model/specedit.py load_document put ruamel's error text in its refusal, and
    that text quotes the file's line (and, for a key given twice, the first value): DELETE and the
    destroy button showed a guest_passwd written by hand, which every page hides."""
    spec = yaml.safe_dump(spec_dict("target"), sort_keys=False)
    text = BROKEN_WITH_PASSWORD[broken].format(p=world.target_password, spec=spec)
    with world.case():
        (world.specs / "target.yaml").write_text(text)
        kw: dict[str, object] = {"headers": world.bearer}
        if method == "POST":
            kw = {"data": {"csrf_token": world.csrf, "confirm": "target"}}
        status, answer = _answer(world, method, url, **kw)
        assert status == 422, (status, answer[:300])
        assert world.target_password not in answer, "the refusal quotes the hand-written password"


HIDDEN_ON_THE_NEXT_LINE = {  # a password whose value starts a line of its own, in a file that is not YAML
    "explicit key": "? guest_passwd\n: {p}\n{spec}nb_users: [\n",
    "json across lines": '{{"guest_passwd":\n"{p}"}}\nnb_users: [\n',
    "flow mapping across lines": "{{guest_passwd:\n{p}}}\nnb_users: [\n",
}


@pytest.mark.parametrize("style", sorted(HIDDEN_ON_THE_NEXT_LINE))
def test_a_password_on_the_line_after_its_key_is_hidden_in_a_file_that_is_not_yaml(
    world: World, style: str
) -> None:
    """Was shown on the cluster page and in GET /api/clusters/{name}: webview/redact.py's line-by-line
    redaction (for text that is not YAML) hid the rest of a line naming a password and the lines
    indented under it, not a value starting the next line at the same indentation."""
    spec = yaml.safe_dump(spec_dict("target"), sort_keys=False)
    text = HIDDEN_ON_THE_NEXT_LINE[style].format(p=world.target_password, spec=spec)
    with world.case():
        (world.specs / "target.yaml").write_text(text)
        for url in ("/api/clusters/target", "/clusters/target", "/partials/clusters/target"):
            status, answer = _answer(world, "GET", url)
            assert status == 200 and world.target_password not in answer, url
