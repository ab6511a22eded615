"""Several hubs on one PostgreSQL (`database_url`): which clusters this hub reconciles. The loop asks
`claim` before each cluster's work: a cluster is worked on by the holder of its lease only
(reconciler/store/leases.py). Taking a lease pulls the cluster's records into this hub's files
first (the mirror), and a run that a dead hub left running is recorded as interrupted (its
Terraform may still be saving state elsewhere: Terraform's lock in PostgreSQL makes the next run
wait for it). Every status this hub writes for a cluster it holds is pushed to the database; the
mirror brings the others' into this hub's files, so the web view and the CLI see every cluster."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from reconciler.engine.hub import Hub
from reconciler.engine.recover import recover_taken
from reconciler.store.db import Database, Outage, StoreUnavailable
from reconciler.store.leases import Leases
from reconciler.store.mirror import Mirror
from reconciler.store.shared import ensure_state

log = logging.getLogger("mchub.sharing")


class Sharing:
    def __init__(self, db: Database, leases: Leases, mirror: Mirror) -> None:
        self.db = db
        self.leases = leases
        self.mirror = mirror
        self.scan_every = max(1.0, leases.ttl / 6)  # how often clusters nobody holds are looked for
        self._outage = Outage(f"hub {leases.holder}: taking leases")

    @property
    def holder(self) -> str:
        return self.leases.holder

    def claim(self, name: str, total: int, hub: Hub) -> bool:
        """Whether this hub may work on `name` now: it holds the lease, or takes it (not past its
        fair share of `total` clusters). A lease just taken pulls the cluster's records first."""
        if self.leases.mine(name):
            return True
        if len(self.leases.held()) >= self.leases.fair_share(total):
            return False
        try:
            previous = self.leases.last_holder(name)
            if not self.leases.take(name):
                return False
            self.mirror.pull(name)
            ensure_state(self.db, name)  # before Terraform's first lock of it (see ensure_state)
            self._outage.ok()
        except StoreUnavailable as exc:
            self._outage.failed(exc)
            return False
        if previous and previous != self.holder:
            log.info("%s: taken over from hub %s", name, previous, extra={"cluster": name})
        recover_taken(hub, name, f"hub {previous}" if previous else "the hub before")
        return True

    def mine(self, name: str) -> bool:
        return self.leases.mine(name)

    def pushed(self, name: str) -> None:
        """The recorder's listener: a status this hub wrote, pushed when it holds the cluster."""
        if self.leases.mine(name) and self.mirror.push(name):
            self.mirror.copy_state(name)  # a run may have changed it; an idle look did not

    def orphans(self, names: Iterable[str]) -> list[str]:
        """Of `names`, those no live hub holds (no lease, or an expired one): the loop looks at them
        now, so a dead hub's clusters are taken over within about a lease's time."""
        wanted = [n for n in names if not self.leases.mine(n)]
        if not wanted:
            return []
        try:
            free = self.leases.claimable(wanted)
            self._outage.ok()
        except StoreUnavailable as exc:
            self._outage.failed(exc)
            return []
        return sorted(free)

    def start(self) -> None:
        self.leases.start_renewing()
        self.mirror.start()

    def stop(self) -> None:
        """Give the clusters back at once (another hub need not wait for the leases to expire)."""
        self.mirror.stop()
        self.leases.stop()
        try:
            self.leases.release_all()
        except StoreUnavailable:
            pass
        self.db.close()


def wait_for_database(db: Database, timeout: float = 60.0) -> None:
    """At start-up: the schema made (or checked), retrying while PostgreSQL comes up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.ensure_schema()
            return
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
