"""Pre-flight: the hook `reconcile_one` calls right before a plan (Hub.preflight). It checks the spec
against the catalog's figures (flavors, images and quotas: sizing.preflight; networks, routers and
volume types: checks.py) so that a cluster that cannot fit ends `invalid` before any Terraform
process starts. What the catalog could not read is not checked, and said so; it never refuses."""

from __future__ import annotations

import logging
from collections.abc import Callable

from reconciler.cloud.catalog import Catalog, CatalogError
from reconciler.cloud.checks import cloud_problems, unchecked
from reconciler.cloud.figures import Snapshot
from reconciler.cloud.secgroups import rules_of
from reconciler.cloud.sizing import cluster_usage_from_state, needs, preflight, read_state, volumes_by_type
from reconciler.model.settings import Settings, SettingsError
from reconciler.model.spec import ClusterSpec

log = logging.getLogger(__name__)

# Figures at most this old are trusted to refuse a spec; older ones are fetched again first.
FRESH_ENOUGH = 5.0


def make_preflight(catalog: Catalog, settings: Settings) -> Callable[[ClusterSpec], list[str]]:
    """spec -> problems (empty when it fits, or when the cloud has never answered: Terraform will
    then report, and the hub does not hold builds hostage to the catalog)."""
    unchecked_clouds: set[str] = set()  # clouds already logged as unchecked (logged once, not per spec)
    noted: set[tuple[str, str]] = set()  # (cloud, parts not checked) already logged

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
            if cloud not in unchecked_clouds:
                unchecked_clouds.add(cloud)
                log.warning(
                    "pre-flight skipped for cloud %s, which has not answered: %s", cloud, snapshot.error
                )
            return []
        unchecked_clouds.discard(cloud)
        problems = _problems(spec, snapshot, settings)
        if problems and snapshot.stale:
            age = snapshot.age(catalog.clock()) or 0.0
            problems.append(f"(figures from {age:.0f} s ago: {snapshot.error})")
        note = unchecked(snapshot)
        if note and problems:
            problems.append(note)
        elif note and (cloud, note) not in noted:  # fits as far as known: say once what was not checked
            noted.add((cloud, note))
            log.warning("pre-flight of %s on cloud %s: %s", spec.cluster_name, cloud, note)
        return problems

    return check


def _problems(spec: ClusterSpec, snapshot: Snapshot, settings: Settings) -> list[str]:
    try:
        cloud = settings.cloud(snapshot.cloud)
    except SettingsError as exc:
        return [str(exc)]
    # An existing cluster's own usage is given back to what remains before comparing.
    state = read_state(settings.clusters_dir, spec.cluster_name)
    own = cluster_usage_from_state(state, snapshot.flavors)
    rules = rules_of(cloud)
    problems = preflight(spec, snapshot, own, rules)
    default = next((t.name for t in snapshot.volume_types if t.default), None)
    need = needs(spec, snapshot.flavors, rules)
    return problems + cloud_problems(spec, snapshot, cloud, need, volumes_by_type(state, default))
