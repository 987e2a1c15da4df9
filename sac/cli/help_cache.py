"""Caches that keep ``sac --help`` fast: it prints a rendered copy and imports no click,
and when it must render, it lists plugin commands without loading plugins.

* The help itself (:func:`read_help`, :func:`write_help`): importing click alone takes longer
  than starting the interpreter, and the root help changes only when sac, click or the
  plugins do. sac.cli.main prints the copy sac/cli/root.py saved the last time click
  rendered it, if nothing it depends on has changed since.
* Plugin command names and one-line descriptions (:func:`read`, :func:`write`): loading
  plugins means scanning every installed distribution's entry points and importing each
  plugin (~50 ms), and help only needs names and one line each.

Both are keyed by :func:`fingerprint`: the modification times of the directories on
``sys.path`` (installing or removing a distribution, click or a plugin, changes its
site-packages directory) and ``SAC_PLUGINS``; the help also by the files that write it (an
edited checkout), sac's version, the width click wraps to and the variables gettext reads
(click translates "Usage:"). A stale entry can only show an old text; running a command
always loads everything itself. Any failure to read or write a cache is ignored.

For the same reason as the help copy, this module imports ``os`` and ``sys`` only: pathlib,
re, json and hashlib would each cost a noticeable part of ``sac --help``.
"""

from __future__ import annotations

import os
import sys

#: What gettext (so click's "Usage:", "Options:") reads to choose a language.
LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def cache_dir() -> str:
    """``$SAC_HOME/cache``, with ``$SAC_HOME`` found as sac_hookspecs.toolkit.host.sac_home
    finds it, without pathlib (tests/test_cli_help.py holds the two equal)."""
    home = os.path.expanduser(os.environ.get("SAC_HOME") or "~/.scitex/agent-container")
    return os.path.join(home, "cache")


def _path(kind: str, suffix: str) -> str:
    # one file per installation (a venv and a pyz sharing SAC_HOME keep their own); a CRC
    # names it (zlib is built in, hashlib loads OpenSSL): the key inside is what is checked
    import zlib

    where = zlib.crc32("\0".join(_path_entries()).encode())
    return os.path.join(cache_dir(), f"{kind}-{where:08x}{suffix}")


def _path_entries() -> list[str]:
    """sys.path without the working directory `python -m sac` puts first: it names no
    installation, and keying on it made one cache file per directory, each one a miss."""
    here = os.getcwd() if sys.path and sys.path[0] else ""
    return [e for i, e in enumerate(sys.path) if not (i == 0 and e in ("", here))]


def fingerprint() -> list:
    key: list = [os.environ.get("SAC_PLUGINS")]
    for entry in _path_entries():
        try:
            key.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            key.append([entry, None])
    return key


def read(key: list) -> list[tuple[str, str]] | None:
    import json

    raw = _read_own(_path("plugin-commands", ".json"))
    try:
        data = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    return [tuple(row) for row in data.get("commands", [])]


def write(key: list, rows: list[tuple[str, str]]) -> None:
    import json

    _write(_path("plugin-commands", ".json"), json.dumps({"key": key, "commands": rows}))


# -- the rendered root help -----------------------------------------------------------------


def width() -> int:
    """The width click wraps help to in this terminal: ``max(min(columns, 80) - 2, 50)``
    (click.formatting.HelpFormatter), the columns found the way shutil.get_terminal_size()
    finds them (shutil imports re). root.py saves a help only if click used this width."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):  # no stdout (None), closed, not a terminal
            columns = 0
        columns = columns or 80
    return max(min(columns, 80) - 2, 50)


def help_key() -> str:
    """Everything the root help depends on, as one line."""
    import sac

    here = os.path.dirname(os.path.abspath(__file__))
    sources: list[int | None] = []
    for name in ("root.py",):  # the root group: its text, its options, COMMANDS
        try:
            sources.append(os.stat(os.path.join(here, name)).st_mtime_ns)
        except OSError:
            sources.append(None)
    language = [os.environ.get(v) for v in LANGUAGE_VARIABLES]
    return repr([sac.__version__, sources, language, width(), fingerprint()])


def read_help() -> str | None:
    """The root help saved by :func:`write_help`, if nothing it depends on changed since."""
    raw = _read_own(_help_path())
    try:
        key, _, text = (raw or b"").decode("utf-8").partition("\n")
    except ValueError:
        return None
    if key != help_key() or not text:
        return None
    if any(c < " " and c not in "\n\t" or c == "\x7f" for c in text):  # no escapes reach the terminal
        return None
    # click re-wraps a stream it finds misconfigured; printed as is only where that cannot matter
    encoding = getattr(sys.stdout, "encoding", None) or ""
    if not text.isascii() and encoding.lower().replace("-", "") != "utf8":
        return None
    return text


def write_help(text: str, key: str) -> None:
    """Save the root help, exactly as printed, for :func:`read_help`, under ``key``: the
    :func:`help_key` taken before click rendered it. Not saved while something it depends on
    changed a moment ago (a plugin being installed: its entry points may land after the
    folder's time changed, and a copy saved then would miss them for good)."""
    import time

    installs = [m for e, m in fingerprint()[1:] if m is not None and e.endswith(("site-packages", "dist-packages"))]
    newest = max(installs, default=0)
    if key != help_key() or time.time_ns() - newest < 2_000_000_000:
        return
    _write(_help_path(), key + "\n" + text)


def _help_path() -> str:
    return _path("help", f"-{width()}.txt")  # one per width: terminals of two sizes keep theirs


def print_help(text: str) -> None:
    """Print the saved help as click.echo would; a reader that left (``| head -1``) ends
    it quietly with status 1, as click does."""
    if sys.stdout is None:  # started with stdout closed: click prints nothing either
        return
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        sys.exit(1)
    except OSError as e:  # a full disk (> /dev/full): one line, as click's path says it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.stderr.write(f"sac: error: {e}\n")
        sys.exit(1)


def _read_own(path: str) -> bytes | None:
    """The file at ``path`` if it is what sac wrote for this user: a regular file (never a
    link, a fifo or a device: a read that hangs or never ends), owned by this user and
    writable by no one else, in a directory of the same kind, and small. SAC_HOME may sit
    where others can write (a shared home): what another user planted is never printed."""
    import stat

    try:
        for where in (os.path.dirname(path),):
            info = os.lstat(where)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
                return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        if info.st_size > 256 * 1024:
            return None
        return os.read(fd, info.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)


def _write(path: str, data: str) -> None:
    from pathlib import Path

    from sac_hookspecs.toolkit.files import write_atomic

    try:
        write_atomic(Path(path), data.encode(), mode=0o600)
    except OSError:
        pass
