"""The local backend's state lock, seen from outside Terraform: who claims it, and whether
anyone still holds it. Used by start-up recovery, which removes a stale note (`remove_stale_lock_info`).

Terraform locks terraform.tfstate with an fcntl lock, which the kernel releases when its holder
dies (even by kill -9), and notes the holder in .terraform.tfstate.lock.info, which a killed
process leaves behind. An info file without a held lock is therefore stale and blocks nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from reconciler.model.files import read_regular

STATE_FILE = "terraform.tfstate"
LOCK_INFO_FILE = ".terraform.tfstate.lock.info"


def lock_info(workdir: Path) -> dict[str, Any] | None:
    """The lock info file (ID, Who, Operation, Created, Version, Path, Info); it may be stale."""
    try:
        info = json.loads(read_regular(workdir / LOCK_INFO_FILE, 1 << 20))
    except (OSError, ValueError):  # missing, refused (a link, too big: UnreadableFile) or not JSON
        return None
    return info if isinstance(info, dict) else None


def lock_is_held(workdir: Path) -> bool:
    """Whether a live process holds the state lock. Not meaningful from a process that holds it
    itself (POSIX locks belong to processes), which the hub never does: Terraform holds it."""
    try:
        fd = os.open(workdir / STATE_FILE, os.O_RDWR | os.O_NOFOLLOW)
    except (FileNotFoundError, OSError):  # none, or a link (ELOOP): not a lock anyone holds here
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def remove_stale_lock_info(workdir: Path, lock_id: str) -> bool:
    """Delete the info file of lock `lock_id` if nobody holds the lock; True if it was removed."""
    if (lock_info(workdir) or {}).get("ID") != lock_id or lock_is_held(workdir):
        return False
    (workdir / LOCK_INFO_FILE).unlink(missing_ok=True)
    return True
