"""Which hub reconciles which cluster: one lease per cluster in `mchub_leases`, with an expiry on
the database's clock (never the hubs' clocks, which may disagree). A holder renews all of its leases
every ttl/3; a hub that dies or loses the database stops renewing, and after `ttl` seconds another
hub may take its clusters. The epoch grows each time a lease changes hands. `mine()` answers from
memory on this hub's monotonic clock, counted from before each renewal was sent, so a hub cut off
from the database stops treating a cluster as its own before the database lets another hub take it."""

from __future__ import annotations

import logging
import math
import threading
import time

from reconciler.store.db import Database, Outage, StoreUnavailable

log = logging.getLogger("mchub.store")

_TAKE = """
INSERT INTO mchub_leases AS l (name, holder, epoch, expires_at)
VALUES (%(name)s, %(holder)s, 1, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (name) DO UPDATE SET
    holder = EXCLUDED.holder,
    epoch = CASE WHEN l.holder = EXCLUDED.holder THEN l.epoch ELSE l.epoch + 1 END,
    expires_at = EXCLUDED.expires_at
WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder
RETURNING epoch
"""

# One statement: the hub's heartbeat, every unexpired lease of it extended, and how many hubs are
# alive (for fair_share). A lease that already expired is not revived: another hub may hold it.
_RENEW = """
WITH beat AS (
    INSERT INTO mchub_hubs AS h (name, seen_at, started_at) VALUES (%(holder)s, now(), now())
    ON CONFLICT (name) DO UPDATE SET
        seen_at = now(), started_at = CASE WHEN %(first)s THEN now() ELSE h.started_at END
), renewed AS (
    UPDATE mchub_leases SET expires_at = now() + make_interval(secs => %(ttl)s)
    WHERE holder = %(holder)s AND expires_at > now() RETURNING name
)
SELECT 1 + (SELECT count(*) FROM mchub_hubs
            WHERE name <> %(holder)s AND seen_at > now() - make_interval(secs => %(ttl)s)),
       ARRAY(SELECT name FROM renewed)
"""


class Leases:
    """This hub's leases. Thread-safe: the loop takes and releases, the renewing thread renews."""

    def __init__(self, db: Database, holder: str, ttl: float = 30.0) -> None:
        self.db, self.holder, self.ttl = db, holder, float(ttl)
        self._renewed: dict[str, float] = {}  # held name -> monotonic time its last renewal was sent
        self._live = 1  # hubs alive at the last renewal, this one included
        self._first = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage = Outage(f"hub {holder}: renewing its leases")

    def _args(self, **more: object) -> dict[str, object]:
        return {"holder": self.holder, "ttl": self.ttl, **more}

    def take(self, name: str) -> bool:
        """Take (or extend) the lease of `name`: True when this hub holds it now. False when another
        hub holds an unexpired lease, or when the database cannot be reached (nothing is taken)."""
        sent = time.monotonic()
        try:
            with self.db.connection() as conn:
                row = conn.execute(_TAKE, self._args(name=name)).fetchone()
        except StoreUnavailable as exc:
            log.debug("cannot take the lease of %s: %s", name, exc)
            return False
        with self._lock:
            if row is None:
                self._renewed.pop(name, None)
                return False
            self._renewed[name] = sent
        return True

    def renew(self) -> set[str]:
        """Extend every lease this hub holds and beat its heartbeat; returns the names still held.
        Raises StoreUnavailable (leases then run out on their own, here and in the database)."""
        sent = time.monotonic()
        with self.db.connection() as conn:
            row = conn.execute(_RENEW, self._args(first=self._first)).fetchone()
        self._first = False
        live, names = (int(row[0]), set(row[1])) if row else (1, set())
        with self._lock:
            self._live = max(1, live)
            for name in list(self._renewed):
                # a lease taken while this renewal was under way was not in its answer: keep it
                if name not in names and self._renewed[name] < sent:
                    del self._renewed[name]
            for name in names:
                self._renewed[name] = sent
            return set(names)

    def release(self, name: str) -> None:
        """Give up `name` now (it expires at once; its epoch is kept). Quiet when the database is down:
        the lease then runs out by itself."""
        with self._lock:
            self._renewed.pop(name, None)
        sql = "UPDATE mchub_leases SET expires_at = now() WHERE name = %(name)s AND holder = %(holder)s"
        self._quietly(sql, self._args(name=name))

    def release_all(self) -> None:
        """Give up every lease and leave the live hubs (a clean shutdown): others take over at once."""
        with self._lock:
            self._renewed.clear()
        self._quietly(
            "UPDATE mchub_leases SET expires_at = now() WHERE holder = %(holder)s AND expires_at > now()",
            self._args(),
        )
        self._quietly("DELETE FROM mchub_hubs WHERE name = %(holder)s", self._args())

    def _quietly(self, sql: str, args: dict[str, object]) -> None:
        try:
            with self.db.connection() as conn:
                conn.execute(sql, args)
        except StoreUnavailable as exc:
            log.info("hub %s: could not release leases now (they expire by themselves): %s", self.holder, exc)

    def mine(self, name: str) -> bool:
        """Whether this hub may act on `name` now: held, and its last renewal less than ttl ago."""
        with self._lock:
            sent = self._renewed.get(name)
        return sent is not None and time.monotonic() < sent + self.ttl

    def held(self) -> set[str]:
        """The names `mine()` is true of now."""
        now = time.monotonic()
        with self._lock:
            return {name for name, sent in self._renewed.items() if now < sent + self.ttl}

    def holder_of(self, name: str) -> str | None:
        """The hub holding an unexpired lease on `name`, or None. Raises StoreUnavailable."""
        sql = "SELECT holder FROM mchub_leases WHERE name = %s AND expires_at > now()"
        with self.db.connection() as conn:
            row = conn.execute(sql, (name,)).fetchone()
        return str(row[0]) if row else None

    def last_holder(self, name: str) -> str | None:
        """The hub that held `name` last, expired or not (who a takeover takes it from), or None.
        Raises StoreUnavailable."""
        with self.db.connection() as conn:
            row = conn.execute("SELECT holder FROM mchub_leases WHERE name = %s", (name,)).fetchone()
        return str(row[0]) if row else None

    def live_hubs(self) -> list[str]:
        """Hubs whose heartbeat is younger than ttl, by name. Raises StoreUnavailable."""
        sql = "SELECT name FROM mchub_hubs WHERE seen_at > now() - make_interval(secs => %s) ORDER BY name"
        with self.db.connection() as conn:
            return [str(r[0]) for r in conn.execute(sql, (self.ttl,))]

    def fair_share(self, total: int) -> int:
        """How many of `total` clusters this hub should hold: an even split over the hubs alive at the
        last renewal, plus one so that the shares overlap and no cluster is left over."""
        with self._lock:
            live = self._live
        return math.ceil(total / live) + 1

    def claimable(self, names: list[str]) -> set[str]:
        """Of `names`, those no hub holds now (no lease, or an expired one): one query, whatever
        the number of clusters. Raises StoreUnavailable."""
        sql = "SELECT name FROM mchub_leases WHERE name = ANY(%s) AND expires_at > now()"
        with self.db.connection() as conn:
            held = {str(r[0]) for r in conn.execute(sql, (list(names),))}
        return set(names) - held

    # -- the renewing thread ------------------------------------------------------------------

    def start_renewing(self) -> None:
        """Renew every ttl/3 in a daemon thread until `stop()`, first at once."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"mchub-leases-{self.holder}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.renew()
                self._outage.ok()
            except StoreUnavailable as exc:
                self._outage.failed(exc)
            except Exception:  # the thread must outlive any surprise; the next turn tries again
                log.exception("hub %s: renewing its leases failed", self.holder)
            if self._stop.wait(self.ttl / 3):
                return

    def stop(self) -> None:
        """Stop renewing (leases are kept until they expire; `release_all` gives them up now)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
