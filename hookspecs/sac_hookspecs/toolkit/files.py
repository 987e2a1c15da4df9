"""Files and folders sac (or a plugin) keeps for itself: private folders, and files written so
that a crash leaves the old content or the new, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def private_dirs(path: Path) -> Path:
    """Create ``path`` and every missing parent with mode 0700, whatever the umask (a
    ``mkdir(parents=True)`` makes parents 0777 under umask 000: review N2). Returns ``path``."""
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)
    return path


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync, rename.

    The temp file is created with ``mode`` from the start, so a secret is never
    readable by others, not even for a moment. Missing folders are made private
    (:func:`private_dirs`): whatever sac creates for itself is its user's alone.
    """
    private_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
