"""Images resolved once (Hub.images): when the engine plans a cluster, each image text of its spec
is looked up in the catalog's current figures the way Magic Castle looks it up (images.resolve:
name regex, newest active match). An image the cluster already uses is kept while it can still
boot, so a newer upload under the same name changes nothing for a cluster that exists; the engine
records what this returns (engine/imagepins.py) and renders the ids."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from reconciler.cloud.catalog import Catalog, CatalogError
from reconciler.cloud.figures import Image
from reconciler.cloud.images import resolve

log = logging.getLogger(__name__)

# (cloud name, the spec's image texts, the ids they resolved to before) -> text -> image now.
ImagePicker = Callable[[str | None, Iterable[str], Mapping[str, str]], dict[str, Image]]


def pick(texts: Iterable[str], images: Iterable[Image], kept: Mapping[str, str]) -> dict[str, Image]:
    """Each text's image: the one kept for it while it is still active on the cloud, else the
    newest active match. A text that matches nothing active is left out (the pre-flight says why)."""
    images = list(images)
    active = {i.id: i for i in images if i.active and i.id}
    found: dict[str, Image] = {}
    for text in texts:
        image = active.get(kept.get(text, "")) or resolve(text, images)
        if image is not None and image.id:
            found[text] = image
    return found


def make_image_picker(catalog: Catalog) -> ImagePicker:
    """A picker on the catalog's figures. A cloud whose images are not known (it has not answered,
    or its image list failed) resolves nothing: the engine then keeps what it had, or renders the
    names as the spec gives them and lets Terraform look them up."""

    def picker(cloud: str | None, texts: Iterable[str], kept: Mapping[str, str]) -> dict[str, Image]:
        try:
            snapshot = catalog.get(cloud)
        except CatalogError as exc:
            log.warning("images of cloud %s not resolved: %s", cloud or "(default)", exc)
            return {}
        if not snapshot.has_figures or "images" in snapshot.unknown or not snapshot.images:
            return {}
        return pick(texts, snapshot.images, kept)

    return picker
