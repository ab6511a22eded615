"""Each cluster's guest password shared between two hubs' folders through a real PostgreSQL: the
holder's generated password reaches the other hub (0600), a generated password of a hub that does
not hold the cluster is never pushed and gives way to the database's, a person's password given
on any hub reaches the holder and wins, an older one never overwrites a newer one, and a hub taking
a dead hub's cluster over applies the password the cluster has. No password ever reaches a log."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import pytest
from storedirs import HubDirs

from reconciler.model import secrets
from reconciler.model.secrets import GIVEN_AT, secrets_path
from reconciler.store.db import Database
from reconciler.store.leases import Leases
from reconciler.store.mirror import Mirror
from reconciler.store.secretsync import get_secrets

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)


def _mirror(db: Database, hub: HubDirs, name: str, leases: Leases | None = None) -> Mirror:
    mirror = Mirror(db, hub.specs, hub.clusters, name, leases.mine if leases else lambda cluster: False)
    mirror.secrets.scan_every = mirror.secrets.scan_share = 0  # every tick looks for changed files
    return mirror


def _given(hub: HubDirs, name: str, password: str, at: dt.datetime) -> None:
    """A person's password given on `hub` at `at` (what store_guest_password writes, at a set time)."""
    path = secrets_path(hub.clusters, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"guest_passwd": password, GIVEN_AT: at.isoformat()}))
    path.chmod(0o600)


def _password(hub: HubDirs, name: str) -> str | None:
    return secrets.stored_guest_password(hub.clusters, name)


def test_the_holders_generated_password_reaches_the_other_hub_and_wins_over_its_own(
    db: Database, other_db: Database, hub_a: HubDirs, hub_b: HubDirs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lease_a = Leases(db, "hub-a", 30)
    a, b = _mirror(db, hub_a, "hub-a", lease_a), _mirror(other_db, hub_b, "hub-b")
    assert lease_a.take("alpha")

    # a preview on B (not the holder) made a password of its own first: never pushed
    on_b = secrets.guest_password(hub_b.clusters, "alpha", None)
    b.tick()
    assert get_secrets(db, "alpha") is None

    generated = secrets.guest_password(hub_a.clusters, "alpha", None)
    assert generated != on_b
    a.tick()
    stored = get_secrets(db, "alpha")
    assert stored is not None and stored.body == {"guest_passwd": generated} and stored.given_at is None
    b.tick()
    assert _password(hub_b, "alpha") == generated
    assert secrets.guest_password(hub_b.clusters, "alpha", None) == generated
    assert secrets_path(hub_b.clusters, "alpha").stat().st_mode & 0o777 == 0o600
    b.tick()  # B's file, now the database's, is not pushed back as a change
    again = get_secrets(db, "alpha")
    assert again is not None and again.version == stored.version

    # a hub starting late takes it too, for a cluster it never saw
    hub_c = HubDirs(hub_a.clusters.parent.parent / "c")
    _mirror(other_db, hub_c, "hub-c").catch_up()
    assert _password(hub_c, "alpha") == generated
    for password in (generated, on_b):
        assert password not in caplog.text


def test_a_persons_password_given_on_any_hub_reaches_the_holder_and_wins(
    db: Database, other_db: Database, hub_a: HubDirs, hub_b: HubDirs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lease_a = Leases(db, "hub-a", 30)
    a, b = _mirror(db, hub_a, "hub-a", lease_a), _mirror(other_db, hub_b, "hub-b")
    assert lease_a.take("alpha")
    generated = secrets.guest_password(hub_a.clusters, "alpha", None)
    a.tick()
    b.tick()
    assert _password(hub_b, "alpha") == generated

    secrets.store_guest_password(hub_b.clusters, "alpha", "given-on-b-1234")  # the web form on B
    given_at = secrets.password_given_at(hub_b.clusters, "alpha")
    b.tick()
    a.tick()
    assert _password(hub_a, "alpha") == "given-on-b-1234"
    assert secrets.guest_password(hub_a.clusters, "alpha", None) == "given-on-b-1234"
    # the engine sees a new given-at in its hash: the holder applies the person's password
    assert secrets.password_given_at(hub_a.clusters, "alpha") == given_at
    assert secrets_path(hub_a.clusters, "alpha").stat().st_mode & 0o777 == 0o600

    # the holder's generated password of another cluster never beats a person's given on B
    _given(hub_b, "bravo", "person-bravo-99", NOW)
    b.tick()
    assert lease_a.take("bravo")
    assert secrets.guest_password(hub_a.clusters, "bravo", None) != "person-bravo-99"  # made before
    a.tick()
    assert _password(hub_a, "bravo") == "person-bravo-99"
    assert "given-on-b-1234" not in caplog.text and "person-bravo-99" not in caplog.text


def test_an_older_given_password_never_overwrites_a_newer_one(
    db: Database, other_db: Database, hub_a: HubDirs, hub_b: HubDirs
) -> None:
    lease_a = Leases(db, "hub-a", 30)
    a, b = _mirror(db, hub_a, "hub-a", lease_a), _mirror(other_db, hub_b, "hub-b")
    assert lease_a.take("alpha")
    later = NOW + dt.timedelta(minutes=5)

    # pushed in order newer, then older: the database and both hubs keep the newer
    _given(hub_b, "alpha", "newer-on-b", later)
    b.tick()
    _given(hub_a, "alpha", "older-on-a", NOW)  # A's clock runs behind, or its form was slow
    a.pull("alpha")  # pushes before it pulls: the database refuses the older one
    b.tick()
    assert _password(hub_a, "alpha") == _password(hub_b, "alpha") == "newer-on-b"
    stored = get_secrets(db, "alpha")
    assert stored is not None and stored.body["guest_passwd"] == "newer-on-b"

    # the other way round: an older one on B, pushed after A's newer one, loses too
    _given(hub_a, "alpha", "newest-on-a", later + dt.timedelta(minutes=5))
    _given(hub_b, "alpha", "stale-on-b", later - dt.timedelta(minutes=1))
    b.tick()
    a.tick()
    b.tick()
    assert _password(hub_a, "alpha") == _password(hub_b, "alpha") == "newest-on-a"

    # on the way out: a row older than the local file is not written over it
    _given(hub_a, "alpha", "third-on-a", later + dt.timedelta(minutes=30))
    _given(hub_b, "alpha", "fourth-on-b", later + dt.timedelta(hours=1))
    a.tick()
    b.tick()  # pulls A's third (older than its file: kept), then pushes its fourth
    assert _password(hub_b, "alpha") == "fourth-on-b"
    a.tick()
    assert _password(hub_a, "alpha") == "fourth-on-b"


def test_a_hub_taking_a_dead_hubs_cluster_applies_its_password(
    db: Database, other_db: Database, hub_a: HubDirs, hub_b: HubDirs
) -> None:
    lease_a, lease_b = Leases(db, "hub-a", 3), Leases(other_db, "hub-b", 3)
    a, b = _mirror(db, hub_a, "hub-a", lease_a), _mirror(other_db, hub_b, "hub-b", lease_b)
    assert lease_a.take("alpha")
    generated = secrets.guest_password(hub_a.clusters, "alpha", None)
    a.push("alpha")  # after the status write of the run that made it
    # B never followed (it started late, or its follower lagged), and a preview there made its own
    secrets.guest_password(hub_b.clusters, "alpha", None)

    # A dies: it stops renewing, and B may take the cluster once the lease ran out
    deadline = time.monotonic() + 10
    while not lease_b.take("alpha"):
        assert time.monotonic() < deadline, "hub A's lease never ran out"
        time.sleep(0.2)
    b.pull("alpha")  # what a lease just taken does before the first run
    assert secrets.guest_password(hub_b.clusters, "alpha", None) == generated
    b.tick()  # and as the holder now, B does not push its own over it
    stored = get_secrets(db, "alpha")
    assert stored is not None and stored.body == {"guest_passwd": generated}
    assert _password(hub_b, "alpha") == generated
