"""Failures in words, for the cluster page: a failed (or waiting) cluster's status -> a headline and
what to do, in the words of people who run clusters rather than Terraform's. The raw message stays
on the page one click away; this only leads with what it means.

One table, KINDS, has a row per failure kind (reconciler/terraform/errors.py FailureKind, by value,
as a run record's `error_kind` names it); the status carries the reason the executor maps each
kind to (REASON_KINDS). A few patterns sharpen a kind's headline from the message (which service
did not answer, which quota, the SSH key the cloud refused)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from reconciler.cloud.figures import QUOTA_KEYS
from reconciler.cloud.shortfall import Shortfall, label
from reconciler.model.status import Status


@dataclass(frozen=True)
class Advice:
    headline: str  # what happened, in one line
    todo: str  # what a person does about it (or that there is nothing to do)
    retries: bool  # the hub tries again by itself (the page counts down to `next_attempt_at`)
    said: str = ""  # the cloud's own sentence, when the message has one
    figures: tuple[str, ...] = ()  # per quota that falls short: "vCPUs: 8 needed, 4 free"


# One row per FailureKind value.
KINDS: dict[str, Advice] = {
    "config": Advice(
        "Terraform could not build the cluster as it is configured",
        "Retrying cannot help: change the spec (or the hub's template or cloud settings), then retry.",
        retries=False,
    ),
    "quota": Advice(
        "The cloud's quota is used up",
        "Free some resources or ask the cloud's operators for more quota, or make the cluster smaller."
        " The hub tries again by itself.",
        retries=True,
    ),
    "auth": Advice(
        "The cloud refused the hub's credentials",
        "Check this cloud's entry in clouds.yaml (an expired application credential, a changed"
        " password). The hub tries again by itself.",
        retries=True,
    ),
    "locked": Advice(
        "Another change is in progress",
        "Another Terraform run holds the lock on this cluster's state; the hub tries again once it is"
        " released. If no other run is going, the details below say who holds it.",
        retries=True,
    ),
    "transient": Advice(
        "The cloud did not answer",
        "Nothing to change on your side: the hub tries again by itself.",
        retries=True,
    ),
    "timeout": Advice(
        "The cloud took too long to answer",
        "The hub tries again by itself; if this keeps happening, the cloud may be overloaded.",
        retries=True,
    ),
    "interrupted": Advice(
        "The run was interrupted",
        "The hub stopped while Terraform ran; it plans again from Terraform's state by itself.",
        retries=True,
    ),
    "conflict": Advice(
        "The cloud already has a resource this cluster would create",
        "Import it into Terraform's state or delete it in the cloud (the details below say how), then retry.",
        retries=False,
    ),
}
# status.reason -> failure kind (reconciler/engine/executor.py FAILURE_REASONS, the other way round).
REASON_KINDS = {
    "config_error": "config",
    "quota_exceeded": "quota",
    "auth_failed": "auth",
    "state_locked": "locked",
    "cloud_error": "transient",
    "timeout": "timeout",
    "interrupted": "interrupted",
    "conflict": "conflict",
}
# Reasons that are not a Terraform failure but still stop a cluster.
REASONS: dict[str, Advice] = {
    "spec_invalid": Advice(
        "The spec is not valid",
        "Fix what is listed below; the hub tries again as soon as the spec changes.",
        retries=False,
    ),
    "preflight_failed": Advice(
        "The cluster does not fit in the cloud's free quota",
        "Free some resources or ask for more quota, or make the cluster smaller; Retry now checks again.",
        retries=False,
    ),
    "status_unreadable": Advice(
        "The hub's record of this cluster could not be read",
        "Terraform's state still knows the cluster's resources: Retry now plans again from it.",
        retries=False,
    ),
}

# -- sharper headlines, from the message ---------------------------------------------------------
_PORTS = {"8774": "compute", "8776": "block storage", "9696": "network", "9292": "image",
          "5000": "identity", "35357": "identity"}  # fmt: skip
_SERVICE_WORDS = [
    ("identity", re.compile(r"keystone|identity|/auth/tokens|compute client|authenticat", re.I)),
    ("compute", re.compile(r"\bnova\b|\bcompute\b|/servers\b|os-keypairs|keypair|\bserver\b|instance", re.I)),
    ("block storage", re.compile(r"cinder|blockstorage|block storage|\bvolume", re.I)),
    ("network", re.compile(r"neutron|networking|floating ?ip|\bports?\b|subnet|router|secgroup", re.I)),
    ("image", re.compile(r"glance|\bimages?\b", re.I)),
]
_PORT = re.compile(r"https?://[^/\s:\"']+:(\d{2,5})")


def service_of(message: str) -> str:
    """Which of the cloud's services a message is about ("compute", "network", ...), or ""."""
    if (m := _PORT.search(message)) and m.group(1) in _PORTS:
        return _PORTS[m.group(1)]
    return next((name for name, words in _SERVICE_WORDS if words.search(message)), "")


_NOVA = re.compile(r"quota exceeded for (\w+): requested (\d+), but already used (\d+) of (\d+)", re.I)
_CINDER = re.compile(r"requested (\d+)G, quota is (\d+)G and (\d+)G has been consumed", re.I)
_LIMIT = re.compile(r"maximum number of ([\w ]+?) allowed \((\d+)\) exceeded", re.I)
_MAXED = re.compile(r"maximum number of ([\w ]+?) (?:exceeded|reached)", re.I)
_NEUTRON = re.compile(r"quota exceeded for resources: \[([^\]]*)\]", re.I)
_NOUNS = {"cores": "vCPUs", "instances": "instances", "floatingip": "floating IPs",
          "port": "network ports", "security_group": "security groups",
          "security_group_rule": "security group rules", "network": "networks", "subnet": "subnets",
          "router": "routers"}  # fmt: skip


def _ram(mib: int) -> str:
    return f"{round(mib / 1024, 1):g} GiB"


def quota_headline(message: str) -> str:
    """`Quota: 4 more vCPUs needed`, from the cloud's own refusal (Nova, Cinder, Neutron)."""
    if m := _NOVA.search(message):
        what, asked, used, limit = m.group(1).lower(), *(int(g) for g in m.groups()[1:])
        more = asked - max(limit - used, 0)
        if what == "ram":
            return f"Quota: {_ram(more)} more RAM needed"
        return f"Quota: {more} more {_NOUNS.get(what, what)} needed"
    if m := _CINDER.search(message):
        asked, limit, used = (int(g) for g in m.groups())
        return f"Quota: {asked - max(limit - used, 0)} GB more volume storage needed"
    if m := _LIMIT.search(message):
        return f"Quota: the cloud allows at most {m.group(2)} {m.group(1)}"
    if m := _NEUTRON.search(message):
        names = [n.strip(" '\"") for n in m.group(1).split(",") if n.strip(" '\"")]
        return f"Quota: no more {' or '.join(_NOUNS.get(n, n) for n in names)} left"
    if m := _MAXED.search(message):
        return f"Quota: no more {m.group(1)} allowed"
    return ""


_HTTP_SAID = re.compile(r"^[^:]{1,300}?: (?P<said>.{1,400}?) \(HTTP \d{3}\)")
_JSON_SAID = re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.){1,300})"')
_ADVICE = re.compile(r"\s*The cloud refused the request itself.*$", re.S)  # errors.refusal_message's


def cloud_said(message: str) -> str:
    """The cloud's own sentence in a refusal: errors.refusal_message writes `What (address): the
    cloud's words (HTTP n). Advice`; a raw message may still hold the cloud's JSON."""
    if m := _HTTP_SAID.search(message):
        return m.group("said").strip()
    if m := _JSON_SAID.search(message):
        return m.group(1).replace('\\"', '"').strip()
    if (bare := _ADVICE.sub("", message)) != message:
        said = bare.split(": ", 1)[-1].strip()
        return said if len(said) <= 300 else said[:299] + "…"
    return ""


_DOWNLOAD = re.compile(r"download module|provider packages|install provider|registry", re.I)


def _transient(advice: Advice, message: str) -> Advice:
    if _DOWNLOAD.search(message):
        return replace(advice, headline="The hub could not download the cluster's module or providers")
    service = service_of(message)
    if not service:
        return advice
    return replace(advice, headline=f"The cloud's {service} service is unavailable")


def _quota(advice: Advice, message: str) -> Advice:
    return replace(advice, headline=quota_headline(message) or advice.headline)


_KEYPAIR = re.compile(r"keypair|key pair|ssh key", re.I)
_IMAGE = re.compile(r"\bimage\b", re.I)
_FLAVOR = re.compile(r"\bflavou?r\b", re.I)
_ROUTE = re.compile(r"is not reachable from subnet", re.I)
_VOLUME_TYPE = re.compile(r"volume type", re.I)


def _config(advice: Advice, message: str) -> Advice:
    said = cloud_said(message)
    if not said:
        return advice
    for pattern, headline, todo in (
        (_KEYPAIR, "The cloud refused the SSH key", "Check the keys in public_keys: paste each whole "
         "public key (the .pub file) on one line."),
        (_ROUTE, "The cloud's network has no route to the public network", "Choose a network with a "
         "router to the external network (the cloud's network setting), then retry."),
        (_VOLUME_TYPE, "The cloud refused the volume type", "Choose a volume type the cloud offers "
         "(or none, for its default), then retry."),
        (_IMAGE, "The cloud refused the image", "Choose an image the cloud offers (the form lists "
         "them), then retry."),
        (_FLAVOR, "The cloud refused the flavor", "Choose a flavor the cloud offers, then retry."),
    ):  # fmt: skip
        if pattern.search(message):
            return Advice(f"{headline}: {said}", todo, retries=False, said=said)
    return replace(advice, headline=f"The cloud refused the request: {said}", said=said)


SHARPEN: dict[str, Callable[[Advice, str], Advice]] = {
    "transient": _transient,
    "timeout": lambda a, m: (
        replace(a, headline=f"The cloud's {s} service took too long to answer") if (s := service_of(m)) else a
    ),
    "quota": _quota,
    "config": _config,
}


def for_kind(kind: str, message: str = "") -> Advice | None:
    """The advice for a failure kind (a FailureKind value), sharpened by its message."""
    advice = KINDS.get(kind)
    if advice is None:
        return None
    sharpen = SHARPEN.get(kind)
    return sharpen(advice, message) if sharpen is not None and message else advice


def explain(status: Status | None) -> Advice | None:
    """What the cluster page leads with for a status that failed or waits: None for one that did not."""
    if status is None:
        return None
    reason = status.reason.value
    if reason == "quota_wait":
        return quota_wait(status)
    if reason in REASONS:
        return REASONS[reason]
    kind = REASON_KINDS.get(reason)
    return for_kind(kind, status.message) if kind is not None else None


def quota_wait(status: Status) -> Advice:
    """A spec that does not fit the free quota waits for room (`quota_wait`: needs and free per
    quota key); a built cluster keeps running as it is meanwhile. Words from cloud/shortfall.py,
    as the status message has them."""
    wait = status.quota_wait
    needs, free = (wait.needs, wait.free) if wait is not None else ({}, {})
    keys = [k for k in [*QUOTA_KEYS, *sorted(set(needs) - set(QUOTA_KEYS))] if k in needs and k in free]
    shortfalls = [Shortfall(k, needs[k], max(free[k], 0), limit=0) for k in keys]
    short = [s.more() for s in shortfalls if s.missing > 0]
    figures = tuple(f"{label(s.key)}: {s.figures()}" for s in shortfalls)
    what = f": {', '.join(short)} needed" if short else ""
    headline = f"{'The change waits' if status.deployed else 'Waiting'} for quota{what}"
    todo = (
        "The cluster keeps running as it is; the change is made by itself once there is room."
        if status.deployed
        else "It builds by itself once there is room: free some resources, ask for more quota,"
        " or make it smaller."
    )
    return Advice(headline, todo, retries=True, figures=figures)
