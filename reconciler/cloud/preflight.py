"""Pre-flight: the hook `reconcile` calls right before a plan (Hub.preflight). It checks the spec
against the catalog's figures (flavors, images and quotas: sizing.py; networks, routers and volume
types: checks.py) before any Terraform process starts, and tells two answers apart: `problems` need
a spec or cloud change (the cluster is `invalid`), `shortfalls` of quota are waited out (the cluster
waits for quota and builds once there is room). What the catalog could not read is not checked, and
said so; it never refuses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from reconciler.cloud.catalog import Catalog, CatalogError
from reconciler.cloud.checks import cloud_fit, unchecked
from reconciler.cloud.figures import Snapshot
from reconciler.cloud.secgroups import rules_of
from reconciler.cloud.shortfall import Shortfall
from reconciler.cloud.sizing import (
    catalog_problems,
    cluster_usage_from_state,
    needs,
    read_state,
    shortfalls,
    volumes_by_type,
)
from reconciler.model.settings import Settings, SettingsError
from reconciler.model.spec import ClusterSpec

log = logging.getLogger(__name__)

# Figures at most this old are trusted to refuse a spec; older ones are fetched again first.
FRESH_ENOUGH = 5.0


@dataclass(frozen=True)
class Verdict:
    """What the pre-flight found: nothing (it fits, or the cloud could not tell), problems that
    need a change, quota shortfalls to wait out, and notes on how far it could check (stale
    figures, parts the cloud did not show), said only when it found something."""

    problems: list[str] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.problems and not self.shortfalls

    def lines(self) -> list[str]:
        """Everything found, one line each: problems, shortfalls, then the notes."""
        return self.problems + [s.line() for s in self.shortfalls] + self.notes


def make_preflight(catalog: Catalog, settings: Settings) -> Callable[[ClusterSpec], Verdict]:
    """spec -> Verdict (fits when it does, or when the cloud has never answered: Terraform will
    then report, and the hub does not hold builds hostage to the catalog)."""
    unchecked_clouds: set[str] = set()  # clouds already logged as unchecked (logged once, not per spec)
    noted: set[tuple[str, str]] = set()  # (cloud, parts not checked) already logged

    def check(spec: ClusterSpec) -> Verdict:
        try:
            snapshot = catalog.get(settings.cloud_of(spec.cloud, spec.project))  # a project's: its quota
            cloud = snapshot.cloud
            if snapshot.has_figures and not _verdict(spec, snapshot, settings).fits:
                age = snapshot.age(catalog.clock())
                if snapshot.stale or age is None or age > FRESH_ENOUGH:
                    snapshot = catalog.refresh(cloud)  # refuse (or wait) on fresh figures only
        except CatalogError as exc:
            log.warning("pre-flight of %s skipped: %s", spec.cluster_name, exc)
            return Verdict()
        if not snapshot.has_figures:
            if cloud not in unchecked_clouds:
                unchecked_clouds.add(cloud)
                log.warning(
                    "pre-flight skipped for cloud %s, which has not answered: %s", cloud, snapshot.error
                )
            return Verdict()
        unchecked_clouds.discard(cloud)
        verdict = _verdict(spec, snapshot, settings)
        notes: list[str] = []
        if not verdict.fits and snapshot.stale:
            age = snapshot.age(catalog.clock()) or 0.0
            notes.append(f"(figures from {age:.0f} s ago: {snapshot.error})")
        note = unchecked(snapshot)
        if note and not verdict.fits:
            notes.append(note)
        elif note and (cloud, note) not in noted:  # fits as far as known: say once what was not checked
            noted.add((cloud, note))
            log.warning("pre-flight of %s on cloud %s: %s", spec.cluster_name, cloud, note)
        return Verdict(verdict.problems, verdict.shortfalls, notes)

    return check


def _verdict(spec: ClusterSpec, snapshot: Snapshot, settings: Settings) -> Verdict:
    try:
        cloud = settings.cloud(snapshot.cloud)
    except SettingsError as exc:
        return Verdict([str(exc)])
    # An existing cluster's own usage is given back to what remains before comparing.
    state = read_state(settings.clusters_dir, spec.cluster_name)
    own = cluster_usage_from_state(state, snapshot.flavors)
    rules = rules_of(cloud)
    default = next((t.name for t in snapshot.volume_types if t.default), None)
    need = needs(spec, snapshot.flavors, rules)
    problems, typed = cloud_fit(spec, snapshot, cloud, need, volumes_by_type(state, default))
    short = shortfalls(spec, snapshot, own, rules) + typed
    return Verdict(catalog_problems(spec, snapshot) + problems, short)
