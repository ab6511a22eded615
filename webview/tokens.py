"""Per-user tokens for scripts (token mode): the settings' `token_users_file` names a YAML file
`{user: token}`. A bearer token, or a login with it, is that user (an admin only when `admins:`
names them), while MCHUB_TOKEN's holder stays the hub's admin. The file holds secrets, so it is
refused when others may read it or when it is a link, and every token is 16 characters or more."""

from __future__ import annotations

import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import yaml

from webview.sessions import read_small_file

MIN_TOKEN = 16
MAX_FILE = 1024 * 1024


class TokenUsersError(ValueError):
    """A token users file that cannot be used; the message names the file and what to change."""


def read_token_users(path: Path) -> dict[str, str]:
    """The file's {user: token}, checked: a regular file (never through a link) readable by its
    owner only, a mapping of user ids to distinct tokens of 16+ characters."""
    shown = f"token_users_file {path}"
    try:
        fd_mode = os.stat(path, follow_symlinks=False).st_mode
        if stat.S_ISREG(fd_mode) and fd_mode & 0o077:
            raise TokenUsersError(
                f"{shown}: others may read it (mode {stat.S_IMODE(fd_mode):o}); it holds secrets: "
                f"chmod 600 {path}"
            )
        data = read_small_file(path, MAX_FILE)
    except FileNotFoundError:
        raise TokenUsersError(
            f"{shown}: no such file; create it (YAML: user: token) or unset the setting"
        ) from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, TokenUsersError):
            raise
        raise TokenUsersError(
            f"{shown}: cannot be read ({exc}); it must be a regular file, not a link"
        ) from None
    try:
        users = yaml.safe_load(data.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TokenUsersError(
            f"{shown}: not YAML text ({type(exc).__name__}); write `user: token` lines"
        ) from None
    return check_token_users(shown, users)


def check_token_users(shown: str, users: object) -> dict[str, str]:
    if not isinstance(users, Mapping):
        raise TokenUsersError(f"{shown}: expected a mapping of user id -> token, e.g. `alice: <32 hex>`")
    out: dict[str, str] = {}
    for user, token in users.items():
        if not isinstance(user, str) or not user.strip():
            raise TokenUsersError(f"{shown}: every key must be a user id")
        if not isinstance(token, str) or len(token) < MIN_TOKEN:
            raise TokenUsersError(
                f"{shown}: the token of {user} must be at least {MIN_TOKEN} characters "
                "(e.g. `openssl rand -hex 16`)"
            )
        if token in out.values():
            raise TokenUsersError(f"{shown}: the token of {user} is also another user's; give each their own")
        out[user.strip()] = token
    return out


def token_holder(candidate: str, shared: str | None, users: Mapping[str, str], admin_name: str) -> str | None:
    """Whose token `candidate` is: `admin_name` for the shared token, a user id for a per-user
    token, None for neither. Every token is compared, in constant time each."""
    given = candidate.encode()
    found = admin_name if shared is not None and hmac.compare_digest(given, shared.encode()) else None
    for user, token in users.items():
        if hmac.compare_digest(given, token.encode()) and found is None:
            found = user
    return found
