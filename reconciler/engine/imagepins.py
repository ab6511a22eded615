"""Images resolved once, the engine's side: which image each of a spec's image texts means for this
cluster. Resolved (Hub.images, cloud/imagepick.py) only when the cluster is planned, recorded in its
status (`Status.images`), and reused by every later render (a drift check, an approved apply) and
plan while the text is unchanged; a changed text is resolved anew. Without a catalog nothing is
resolved and the names are rendered as the spec gives them."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.cloud.imagepick import ImagePicker
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import ImagePin


def image_texts(spec: ClusterSpec) -> list[str]:
    """The spec's `image` and each instance's own, each once, in spec order."""
    texts = [spec.image, *(i.image for i in spec.instances.values() if i.image)]
    return list(dict.fromkeys(texts))


def pins_for(
    spec: ClusterSpec,
    recorded: Mapping[str, ImagePin],
    picker: ImagePicker | None,
    cloud: str | None = None,
) -> dict[str, ImagePin]:
    """The images this cluster's main.tf names: those recorded for texts still in the spec, and,
    with a picker (at plan time), what the cloud resolves now (which keeps a recorded image while
    it can still boot). A text the picker cannot resolve keeps its recorded image, if any.
    `cloud`: the entry the cluster runs on (`settings.cloud_of`: its project's); None: the spec's."""
    texts = image_texts(spec)
    kept = {t: recorded[t] for t in texts if t in recorded}
    if picker is None:
        return kept
    found = picker(cloud or spec.cloud, texts, {t: pin.id for t, pin in kept.items()})
    return {**kept, **{t: ImagePin(id=i.id, name=i.name) for t, i in found.items()}}
