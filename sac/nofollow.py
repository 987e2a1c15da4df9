"""The host side's own folders and append-only files, never through a link (the link-safe
reads and writes inside an agent's directories are :mod:`sac_hookspecs.toolkit.nofollow`,
which plugins use too)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from sac_hookspecs.toolkit.files import private_dirs
from sac_hookspecs.toolkit.nofollow import PlantedLink, opened_dir


def ensure_dir(path: Path, *, mode: int, private: bool = True) -> None:
    """Create ``path`` (missing parents 0700) unless it is there; refuse it if it is a link,
    and, when ``private``, if another user owns it or others may write to it (a runtime dir
    someone else made in a shared SAC_HOME would hold their hooks and settings; review N2)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        private_dirs(path.parent)
        try:
            path.mkdir(mode=mode)
        except FileExistsError:
            pass
        else:
            with opened_dir(path) as fd:  # an fd, never the name: glibc < 2.32 has no lchmod
                os.fchmod(fd, mode)  # not the umask's
        st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise PlantedLink(path)
    if private:
        from sac.trust import UntrustedHome, why_untrusted

        reason = why_untrusted(path)
        if reason:
            raise UntrustedHome(
                f"{path}: not trusted: {reason}; another user could have put things there",
                hint=f"if it is yours: chmod go-w {path} (and chown it to yourself); else remove it",
            )


def open_append(path: Path, mode: int = 0o600) -> int:
    """An O_APPEND fd on ``path`` (created with ``mode``) that refuses a link there."""
    try:
        return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise PlantedLink(path) from None
        raise
