"""Pre-flight: the hook `reconcile_one` calls right before a plan (Hub.preflight). It checks the spec
against the catalog's figures (sizing.preflight) so that a cluster that cannot fit ends `invalid`
before any Terraform process starts."""

from __future__ import annotations

import logging
from collections.abc import Callable

from reconciler.cloud.catalog import Catalog, CatalogError
from reconciler.cloud.figures import Snapshot
from reconciler.cloud.sizing import preflight, state_usage
from reconciler.model.settings import Settings
from reconciler.model.spec import ClusterSpec

log = logging.getLogger(__name__)

# Figures at most this old are trusted to refuse a spec; older ones are fetched again first.
FRESH_ENOUGH = 5.0


def make_preflight(catalog: Catalog, settings: Settings) -> Callable[[ClusterSpec], list[str]]:
    """spec -> problems (empty when it fits, or when the cloud has never answered: Terraform will
    then report, and the hub does not hold builds hostage to the catalog)."""
    unchecked: set[str] = set()  # clouds already logged as unchecked (logged once, not per spec)

    def check(spec: ClusterSpec) -> list[str]:
        try:
            snapshot = catalog.get(spec.cloud)
            cloud = snapshot.cloud
            if snapshot.has_figures and _problems(spec, snapshot, settings):
                age = snapshot.age(catalog.clock())
                if snapshot.stale or age is None or age > FRESH_ENOUGH:
                    snapshot = catalog.refresh(cloud)  # refuse on fresh figures only
        except CatalogError as exc:
            log.warning("pre-flight of %s skipped: %s", spec.cluster_name, exc)
            return []
        if not snapshot.has_figures:
            if cloud not in unchecked:
                unchecked.add(cloud)
                log.warning(
                    "pre-flight skipped for cloud %s, which has not answered: %s", cloud, snapshot.error
                )
            return []
        unchecked.discard(cloud)
        problems = _problems(spec, snapshot, settings)
        if problems and snapshot.stale:
            age = snapshot.age(catalog.clock()) or 0.0
            problems.append(f"(figures from {age:.0f} s ago: {snapshot.error})")
        return problems

    return check


def _problems(spec: ClusterSpec, snapshot: Snapshot, settings: Settings) -> list[str]:
    # An existing cluster's own usage is given back to what remains before comparing.
    own = state_usage(settings.clusters_dir, spec.cluster_name, snapshot.flavors)
    return preflight(spec, snapshot, own)
