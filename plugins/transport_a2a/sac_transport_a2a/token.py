"""The agent's A2A token file: made once (0600), kept across restarts, never read through a link."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

MIN_LENGTH = 16


def _read(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise RuntimeError(f"{path} is a symbolic link: sac does not follow it; remove it") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise RuntimeError(f"{path} is not a private (0600) file of this user: remove it, sac makes a new one")
        return os.read(fd, 4096).decode("ascii", "replace").strip()
    finally:
        os.close(fd)


def agent_token(path: Path, given: str | None = None) -> str:
    """The token the agent's port requires. ``given`` (from spec.a2a.auth_token_env) is
    written to ``path`` so sac's own clients find it; otherwise the token already in
    ``path`` is kept (peers holding it keep working across restarts), or a new one is made."""
    if given is None:
        existing = _read(path)
        if existing and len(existing) >= MIN_LENGTH:
            return existing
        given = secrets.token_urlsafe(32)
    elif not given.strip():
        raise RuntimeError("the A2A token is empty")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, given.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return given
