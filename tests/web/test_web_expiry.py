"""Expiry, web side: a write may not set an `expires` already past (form and API, 422 on the field,
nothing written), and the dashboard, the cluster page and the API show the date, the days left and,
in the last days, a warning. The app's clock is fixed at NOON (UTC) unless a test moves it."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient
from webfakes import KEY, spec_dict
from webhelpers import form_fields, read_spec, write_spec

from reconciler.model import expiry
from reconciler.model.settings import Settings

NOON = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
TODAY = NOON.date()
JSON = {"Content-Type": "application/json"}


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


class Clock:
    def __init__(self, now: dt.datetime = NOON) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web(make_client: Callable[..., TestClient], clock: Clock) -> TestClient:
    return make_client(clock=clock)


def spec_bytes(settings: Settings, name: str) -> bytes:
    return (settings.specs_dir / f"{name}.yaml").read_bytes()


def past_error(response: Any) -> str:
    assert response.status_code == 422, response.text
    errors = {e["path"]: e["message"] for e in response.json()["errors"]}
    return errors["expires"]


# -- the rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "absent", "refused"),
    [
        (day(-1), False, True),  # already past: the engine would refuse the spec, so the web does
        (day(0), False, False),  # today is the cluster's last day, not past
        (day(30), False, False),  # in the future
        (None, False, False),  # no date
        (day(-1), True, False),  # `ensure: absent` is the person's decision whatever the date
    ],
)
def test_a_spec_is_written_with_a_past_date_only_to_destroy_it(
    new: str | None, absent: bool, refused: bool
) -> None:
    as_date = lambda s: dt.date.fromisoformat(s) if s else None  # noqa: E731
    assert (expiry.past_refusal(as_date(new), TODAY, absent) is not None) is refused


def test_the_api_refuses_a_past_date_on_create(web: TestClient, settings: Settings) -> None:
    r = web.post("/api/clusters", content=json.dumps(spec_dict("beta", expires=day(-1))), headers=JSON)
    message = past_error(r)
    assert "already past" in message and f"today is {TODAY}" in message and day(-1) in message
    assert not (settings.specs_dir / "beta.yaml").exists()
    r = web.put("/api/clusters/beta", content=json.dumps(spec_dict("beta", expires=day(-3))), headers=JSON)
    assert "already past" in past_error(r) and not (settings.specs_dir / "beta.yaml").exists()
    today = web.post("/api/clusters", content=json.dumps(spec_dict("beta", expires=day(0))), headers=JSON)
    assert today.status_code == 201, today.text


def test_the_api_refuses_an_edit_of_an_expired_spec_until_it_has_a_new_date(
    web: TestClient, settings: Settings
) -> None:
    """A spec whose file already says a past date (written through git before the date passed):
    the engine would refuse any changed version of it, so an edit must set a new date first."""
    write_spec(settings, "alpha", expires=day(-2))
    before = spec_bytes(settings, "alpha")
    for expires in (day(-1), day(-2)):
        edited = spec_dict("alpha", expires=expires, nb_users=9)
        assert "already past" in past_error(
            web.put("/api/clusters/alpha", content=json.dumps(edited), headers=JSON)
        )
        assert spec_bytes(settings, "alpha") == before
    renewed = spec_dict("alpha", expires=day(10), nb_users=9)
    r = web.put("/api/clusters/alpha", content=json.dumps(renewed), headers=JSON)
    assert r.status_code == 200, r.text
    assert "nb_users: 9" in (settings.specs_dir / "alpha.yaml").read_text()


def test_the_form_refuses_a_past_date_next_to_the_field(web: TestClient, settings: Settings) -> None:
    fields = form_fields(web.get("/clusters/new").text)
    fields.update({"cluster_name": "demo", "public_keys": KEY, "expires": day(-1)})
    r = web.post("/clusters/new", data=fields)
    assert r.status_code == 422
    error = re.search(r'id="err-expires">([^<]*)<', r.text)
    assert error and "already past" in error.group(1) and f"today is {TODAY}" in error.group(1)
    assert re.search(r'<details class="card advanced" open', r.text)  # the field is shown, not hidden
    assert not (settings.specs_dir / "demo.yaml").exists()


def test_the_edit_form_of_an_expired_spec_asks_for_a_new_date(web: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha", expires=day(-2))
    before = spec_bytes(settings, "alpha")
    fields = form_fields(web.get("/clusters/alpha/edit").text)
    assert fields["expires"] == day(-2)
    fields["inst-2-count"] = "3"
    r = web.post("/clusters/alpha/edit", data=fields)
    assert r.status_code == 422 and 'id="err-expires"' in r.text and "already past" in r.text
    assert spec_bytes(settings, "alpha") == before
    fields["expires"] = day(7)
    assert web.post("/clusters/alpha/edit", data=fields).status_code == 303
    saved = read_spec(settings, "alpha")
    assert str(saved["expires"]) == day(7) and saved["instances"]["node"]["count"] == 3


# -- what people see -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "text", "warning"),
    [
        (40, f"expires {day(40)}, in 40 days", None),
        (4, f"expires {day(4)}, in 4 days", None),
        (3, f"expires {day(3)}, in 3 days", "destroyed in 3 days"),
        (1, f"expires {day(1)}, tomorrow", "destroyed in 1 day"),
        (0, f"expires {day(0)}, today", "destroyed at the end of today (UTC)"),
        (-2, f"expired {day(-2)}, 2 days ago", f"expired on {day(-2)}"),
    ],
)
def test_the_api_carries_days_left_and_the_warning(
    web: TestClient, settings: Settings, offset: int, text: str, warning: str | None
) -> None:
    write_spec(settings, "alpha", expires=day(offset))
    expected = {"date": day(offset), "days_left": offset, "text": text, "warning": warning}
    assert web.get("/api/clusters/alpha").json()["expiry"] == expected
    assert web.get("/api/clusters").json()["clusters"][0]["expiry"] == expected


def test_no_expiry_and_no_warning_for_a_cluster_already_asked_to_go(
    web: TestClient, settings: Settings
) -> None:
    write_spec(settings, "alpha")
    write_spec(settings, "beta", expires=day(1), ensure="absent")
    items = {c["name"]: c for c in web.get("/api/clusters").json()["clusters"]}
    assert items["alpha"]["expiry"] is None
    assert items["beta"]["expiry"]["days_left"] == 1 and items["beta"]["expiry"]["warning"] is None


def test_the_cluster_page_and_dashboard_show_the_date_and_warn_in_the_last_days(
    web: TestClient, settings: Settings
) -> None:
    write_spec(settings, "alpha", expires=day(3))
    write_spec(settings, "beta", expires=day(20))
    page = web.get("/clusters/alpha").text
    warning = re.search(r'<p class="notice warn expiry" id="expiry" role="alert">(.*?)</p>', page, re.S)
    assert (
        warning
        and "Destroyed in 3 days" in warning.group(1)
        and f"expires {day(3)}, in 3 days" in warning.group(1)
    )
    assert web.get("/partials/clusters/alpha").text.count('id="expiry"') == 1  # kept by the page's polling
    calm = web.get("/clusters/beta").text
    assert f"Expires {day(20)}, in 20 days" in calm and "notice warn expiry" not in calm
    board = web.get("/").text
    row = lambda name: re.search(rf'<tr data-cluster="{name}">(.*?)</tr>', board, re.S).group(1)  # noqa: E731
    assert "destroyed in 3 days" in row("alpha") and f"expires {day(3)}, in 3 days" in row("alpha")
    assert f"expires {day(20)}, in 20 days" in row("beta") and "expiry-warning" not in row("beta")


def test_days_left_follow_the_utc_date(web: TestClient, settings: Settings, clock: Clock) -> None:
    write_spec(settings, "alpha", expires=day(4))
    etag = web.get("/api/clusters").headers["etag"]
    assert "expiry-warning" not in web.get("/").text
    # 23:30 in Vancouver on the same evening is already the next day in UTC.
    clock.now = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    assert web.get("/api/clusters/alpha").json()["expiry"]["days_left"] == 3
    assert "destroyed in 3 days" in web.get("/").text  # the dashboard's cached HTML is per day
    assert web.get("/api/clusters", headers={"If-None-Match": etag}).status_code == 200


def test_utc_today() -> None:
    vancouver = dt.timezone(dt.timedelta(hours=-8))
    assert expiry.utc_today(dt.datetime(2026, 11, 30, 20, 0, tzinfo=vancouver)) == dt.date(2026, 12, 1)
    assert expiry.utc_today(dt.datetime(2026, 11, 30, 23, 59)) == dt.date(2026, 11, 30)  # naive: UTC
