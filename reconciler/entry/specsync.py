"""`mchub serve`'s specs from a git remote (settings.specs_remote): the hub's clone is made or checked
in specs_dir and pulled once before the loop watches it (so the first resync sees the remote's
specs), then a thread pulls on the interval and on the webhook's poke until the hub stops. Without
a remote, nothing: specs_dir is the hub's own folder, as before."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from reconciler.gitsync.clone import CloneError
from reconciler.gitsync.git import GitMissing
from reconciler.gitsync.remote import SpecsRemote
from reconciler.model.settings import Settings, SettingsError

log = logging.getLogger("mchub.serve")


@contextlib.contextmanager
def specs_remote(settings: Settings) -> Iterator[SpecsRemote | None]:
    """The prepared, pulling clone (stopped on the way out), or None without specs_remote.
    SettingsError when specs_dir cannot be the clone or git is missing: the hub does not start."""
    if not settings.specs_remote:
        yield None
        return
    remote = SpecsRemote(settings)
    try:
        first = remote.prepare()
    except (CloneError, GitMissing) as exc:
        raise SettingsError(f"specs_remote: {exc}") from None
    if first.ok:
        log.info(
            "specs from %s (%s) in %s: %s", remote.shown_url, remote.branch, remote.repo.dir, first.message
        )
    else:  # an existing clone works while the remote is away; the thread keeps trying
        log.warning(
            "specs from %s: using the clone in %s as it is: %s",
            remote.shown_url,
            remote.repo.dir,
            first.message,
        )
    remote.start()
    try:
        yield remote
    finally:
        remote.stop()
