"""`mchub serve` with `database_url`: connect, make or check the schema, pull every cluster the
database knows into this hub's files, and build the Sharing the loop consults (engine/sharing.py).
Without `database_url` there is nothing to share: files stay the hub's only store."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from reconciler.engine.sharing import Sharing, wait_for_database
from reconciler.model.settings import Settings, SettingsError
from reconciler.store.db import Database, SchemaTooNew, StoreUnavailable
from reconciler.store.leases import Leases
from reconciler.store.mirror import Mirror


def hub_name(settings: Settings) -> str:
    """This hub among several: `hub_name`, else its host and process id."""
    return settings.hub_name or f"{socket.gethostname()}-{os.getpid()}"


def password_to_environment(url: str) -> None:
    """A password written in `database_url` is given to Terraform's pg backend as PGPASSWORD (it
    never goes into main.tf); PGPASSWORD set by the operator wins."""
    password = urlsplit(url).password
    if password and not os.environ.get("PGPASSWORD"):
        os.environ["PGPASSWORD"] = unquote(password)


@contextlib.contextmanager
def sharing(settings: Settings) -> Iterator[Sharing | None]:
    """The Sharing of a hub with `database_url` (None without); its leases are given back on the
    way out. Call `.start()` once the listeners are wired. SettingsError when PostgreSQL does not
    answer within a lease's time, or holds a newer MC Hub's schema: the hub does not start."""
    if not settings.database_url:
        yield None
        return
    password_to_environment(settings.database_url)
    # the pool says every failed reconnect; the hub says an outage once (store.db.Outage)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    db = Database(settings.database_url)
    try:
        wait_for_database(db, timeout=settings.lease_ttl)
        name = hub_name(settings)
        leases = Leases(db, name, settings.lease_ttl)
        mirror = Mirror(db, settings.specs_dir, settings.clusters_dir, name, leases.mine)
        mirror.catch_up()
    except (StoreUnavailable, SchemaTooNew) as exc:
        db.close()
        raise SettingsError(f"database_url: {exc}") from None
    except BaseException:
        db.close()
        raise
    shared = Sharing(db, leases, mirror)
    try:
        yield shared
    finally:
        shared.stop()
