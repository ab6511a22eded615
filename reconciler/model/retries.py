"""Retry requests: a person asks the hub to try a failed cluster again now, without waiting for its
backoff (`mchub retry NAME`, the cluster page's "Retry now", `POST /api/clusters/{name}/retry`).
Written on a person's behalf as `specs/.retries/<name>.json`, read by the reconciler, which retries a
cluster whose request is newer than its last failure. `check_retryable` is the one rule for which
clusters may be retried, the same for the three doors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from reconciler.model.atomic import write_atomic
from reconciler.model.files import read_regular
from reconciler.model.status import ERROR_PHASES, Phase, Reason, Status

RETRIES_DIR = ".retries"
MAX_BYTES = 4096  # a request is a few fields; anything larger is not one of ours


def retry_path(specs_dir: Path, name: str) -> Path:
    return specs_dir / RETRIES_DIR / f"{name}.json"


def request_retry(specs_dir: Path, name: str, user: str, now: dt.datetime) -> None:
    """Ask for a retry of `name` now (the last request wins: one file per cluster)."""
    blob = json.dumps({"cluster": name, "requested_by": user, "at": now.isoformat()})
    write_atomic(retry_path(specs_dir, name), blob.encode())


def read_retry(specs_dir: Path, name: str) -> dt.datetime | None:
    """When a retry of `name` was last asked for (aware, UTC), or None: no request, or a file that
    is not one (a link, not a regular file, too large, not our JSON) is no request."""
    request = read_request(specs_dir, name)
    return request[0] if request is not None else None


def read_request(specs_dir: Path, name: str) -> tuple[dt.datetime, str | None] | None:
    """The last retry request of `name`: when (aware, UTC) and who asked (None: not said); None
    when there is none (see `read_retry`)."""
    try:
        data = json.loads(read_regular(retry_path(specs_dir, name), MAX_BYTES))
    except (OSError, ValueError, RecursionError):  # FileRefused and UnreadableFile are ValueErrors
        return None
    when = request_at(data)
    if when is None:
        return None
    by = data.get("requested_by")
    return when, (by[:200] if isinstance(by, str) and by else None)


def request_at(body: object) -> dt.datetime | None:
    """When a request (a retry request, an approval) was made: its ISO `at`, aware, in UTC (a time
    without a zone is UTC); None when `body` is not a mapping with such a time."""
    at = body.get("at") if isinstance(body, dict) else None
    try:
        when = dt.datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        return None
    if when is None:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


class NotRetryable(Exception):
    """The cluster has no failure to retry; the message says why and what to do instead."""


def check_retryable(name: str, status: Status | None) -> Status:
    """The status of a cluster that may be retried now: failed in a run (an error phase), refused
    by the pre-flight, or waiting for quota (it may have freed up). NotRetryable otherwise."""
    if status is None:
        raise NotRetryable(f'cluster "{name}" has not been reconciled yet: there is nothing to retry')
    if status.phase in ERROR_PHASES:
        return status
    if status.phase == Phase.INVALID and status.reason == Reason.PREFLIGHT_FAILED:
        return status
    if status.reason == Reason.QUOTA_WAIT:  # look at the quota again now rather than at the next check
        return status
    if status.phase == Phase.INVALID:
        raise NotRetryable(
            f'cluster "{name}" has an invalid spec: a retry would fail the same way; fix the spec '
            "(the hub tries again as soon as it changes)"
        )
    raise NotRetryable(
        f'cluster "{name}" has not failed (phase: {status.phase.value}): only a failed cluster, or one '
        "refused by the pre-flight, can be retried"
    )
