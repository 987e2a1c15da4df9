"""Host-side reads and writes under directories an agent controls, never through a link.

An agent's workdir and HOME are bind-mounted into its container, so anything in them may be
a symbolic link the agent planted, pointing at any file of its owner (``~/.ssh/id_ed25519``,
``~/.bashrc``). sac's host side writes into those directories at every start (``to_home/``,
``dot_claude/``, CLAUDE.md, .mcp.json, a provider's credentials file); following such a link
would read a host file into the sandbox or overwrite one outside it.

So every path below an agent-controlled ``root`` is walked one component at a time from a
directory file descriptor with ``O_NOFOLLOW`` (``openat``), and files are created with
``O_EXCL | O_NOFOLLOW`` and renamed into place (a rename replaces a name, it never writes
through it). A link found anywhere on the way is refused with :class:`PlantedLink`, which
names it; nothing is read or written through it. ``root`` itself must not be a link either;
the directories above it are the owner's (``$SAC_HOME``, the spec's folder).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from ..errors import SacError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PlantedLink(SacError):
    """A symbolic link where sac reads or writes an agent's files."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            f"{path} is a symbolic link (or not what sac expects there); sac does not follow links in an "
            "agent's directories, where the agent itself may have planted them",
            hint=f"look at where it points, then remove it (rm {path}) and start again",
        )
        self.path = str(path)


def _parts(rel: str | PurePosixPath) -> list[str]:
    parts = [p for p in PurePosixPath(rel).parts if p not in ("", ".")]
    if any(p == ".." or "/" in p for p in parts) or PurePosixPath(rel).is_absolute():
        raise ValueError(f"not a relative path inside the agent's directory: {rel}")
    return parts


def _open_dir(name: str, dir_fd: int | None, shown: Path, create: bool, mode: int) -> int:
    try:
        return os.open(name, _DIR, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(name, mode, dir_fd=dir_fd)
        except FileExistsError:
            return _open_dir(name, dir_fd, shown, False, mode)  # made meanwhile (or a link appeared)
        fd = _open_dir(name, dir_fd, shown, False, mode)
        os.fchmod(fd, mode)  # as for files: the umask must not narrow or widen what was asked
        return fd
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise PlantedLink(shown) from None
        raise


@contextmanager
def opened_dir(root: Path, rel: str | PurePosixPath = "", create: bool = False, mode: int = 0o755) -> Iterator[int]:
    """A file descriptor of ``root/rel``, every component opened without following links
    (created with ``mode`` when ``create``). Closed on exit."""
    fd = _open_dir(str(root), None, root, create, 0o700)
    try:
        shown = root
        for part in _parts(rel):
            shown = shown / part
            nxt = _open_dir(part, fd, shown, create, mode)
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def read_bytes(root: Path, rel: str | PurePosixPath) -> bytes | None:
    """The content of the regular file ``root/rel``; None when it (or a directory on the
    way) does not exist; PlantedLink when anything on the way is a link or not a file."""
    *dirs, name = _parts(rel)
    try:
        with opened_dir(root, PurePosixPath(*dirs) if dirs else "") as dfd:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise PlantedLink(root / rel) from None
                raise
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a fifo or device would block or lie
            raise PlantedLink(root / rel)
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def write_file(root: Path, rel: str | PurePosixPath, data: bytes, mode: int = 0o644, dir_mode: int = 0o755) -> None:
    """Write ``root/rel`` atomically (temp file + fsync + rename, in the same directory),
    creating missing directories with ``dir_mode``; the file has ``mode`` from its first
    byte. A link on the way is refused; a link *at* ``rel`` is refused too (an agent that
    planted one should hear about it, not have it silently replaced)."""
    *dirs, name = _parts(rel)
    with opened_dir(root, PurePosixPath(*dirs) if dirs else "", create=True, mode=dir_mode) as dfd:
        try:
            if stat.S_ISLNK(os.lstat(name, dir_fd=dfd).st_mode) or not stat.S_ISREG(os.lstat(name, dir_fd=dfd).st_mode):
                raise PlantedLink(root / rel)
        except FileNotFoundError:
            pass
        tmp = f".{name}.sac-{os.getpid()}-{os.urandom(4).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
        try:
            os.fchmod(fd, mode)  # the umask must not widen or narrow what was asked
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            if fd != -1:
                os.close(fd)
            try:
                os.unlink(tmp, dir_fd=dfd)
            except FileNotFoundError:
                pass
            raise
        os.fsync(dfd)
