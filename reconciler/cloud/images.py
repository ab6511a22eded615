"""Which image a spec's `image` means, decided the way Magic Castle decides it: the name is a
regular expression searched in every image name (`name_regex` with `most_recent = true` in its
openstack module), and of the matches the most recently uploaded *active* image wins. The hub
resolves once, when it plans, and renders the id (engine/render.py), so a newer upload under the
same name is neither an ambiguity error nor a surprise rebuild. Pure: figures in, answer out."""

from __future__ import annotations

import re
from collections.abc import Iterable

from reconciler.cloud.figures import Image


def pattern_of(image: str) -> re.Pattern[str] | None:
    """The spec's image as Magic Castle reads it (None when it is not a valid expression:
    it can then only be taken literally)."""
    try:
        return re.compile(image)
    except re.error:
        return None


def matches(image: str, images: Iterable[Image]) -> list[Image]:
    """Every image whose name the spec's `image` matches, newest first, whatever its status.
    An exact name always matches, even one that is not a valid expression."""
    pattern = pattern_of(image)
    found = [i for i in images if i.name == image or (pattern is not None and pattern.search(i.name))]
    return sorted(found, key=lambda i: (i.created_at, i.id), reverse=True)


def resolve(image: str, images: Iterable[Image]) -> Image | None:
    """The image Magic Castle would boot for `image`: the newest active match, or None."""
    return next((i for i in matches(image, images) if i.active), None)


def problem(image: str, images: Iterable[Image], field: str = "image") -> str | None:
    """Why `image` cannot boot on this cloud, in words naming the field and the choices; None
    when it resolves."""
    images = list(images)
    found = matches(image, images)
    if any(i.active for i in found):
        return None
    active = sorted({i.name for i in images if i.active})
    choices = ", ".join(active[:12]) + (" ..." if len(active) > 12 else "") or "none"
    if found:
        states = ", ".join(sorted({f"{i.name} ({i.status})" for i in found}))
        return f'{field} "{image}" matches only images that cannot boot: {states}; active images: {choices}'
    return f'{field} "{image}" matches no image on this cloud; active images: {choices}'
