"""Volumes of a spec next to the volumes the cloud has: a change that can only fail (OpenStack
cannot shrink a volume) is refused while validating, before any Terraform runs. The engine checks
it against the sizes recorded at the last build; the web view can check the same before it writes."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.model.spec import ClusterSpec


def volume_sizes(spec: ClusterSpec) -> dict[str, int]:
    """`{"nfs.home": 100, ...}`: each volume by `tag.name`, its size in GB."""
    return {f"{tag}.{name}": v.size for tag, vols in spec.volumes.items() for name, v in vols.items()}


def shrinking(old: float, new: float) -> bool:
    """The one rule on sizes: a volume only grows (Cinder's extend refuses a smaller size with a
    400). The safe-change classifier (engine/safety.py) marks a plan's shrink by it, and `shrinks`
    refuses a spec by it before any plan."""
    return new < old


def shrinks(spec: ClusterSpec, built: Mapping[str, int]) -> list[str]:
    """One error per volume the spec makes smaller than it was built, with the field named."""
    problems = []
    for key, size in volume_sizes(spec).items():
        old = built.get(key)
        if old is not None and shrinking(old, size):
            problems.append(
                f"volumes.{key}.size: {size} GB is smaller than the {old} GB volume that exists; "
                f"volumes can only grow (OpenStack cannot shrink one): keep {old} GB or more (to start "
                "over with a smaller one, remove this volume and add one under another name, which "
                "erases its data)"
            )
    return problems
