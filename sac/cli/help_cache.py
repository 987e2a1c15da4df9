"""A cache of plugin command names for ``sac --help``, so help does not load plugins.

Loading plugins means scanning every installed distribution's entry points and
importing each plugin (~50 ms); help only needs names and one-line descriptions. The
cache is keyed by the modification times of the directories on ``sys.path`` (installing
or removing a distribution changes its site-packages directory) and ``SAC_PLUGINS``.
A stale entry can only make help list an old description; running a command always
loads the plugins themselves. Any failure to read or write the cache is ignored.
"""

from __future__ import annotations

import json
import os
import sys

from sac.paths import sac_home


def _path():
    # one file per installation (a venv and a pyz sharing SAC_HOME keep their own)
    import hashlib

    where = hashlib.sha256("\0".join(sys.path).encode()).hexdigest()[:12]
    return sac_home() / "cache" / f"plugin-commands-{where}.json"


def fingerprint() -> list:
    key: list = [os.environ.get("SAC_PLUGINS")]
    for entry in sys.path:
        try:
            key.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            key.append([entry, None])
    return key


def read(key: list) -> list[tuple[str, str]] | None:
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    return [tuple(row) for row in data.get("commands", [])]


def write(key: list, rows: list[tuple[str, str]]) -> None:
    from sac_hookspecs.toolkit.files import write_atomic

    try:
        write_atomic(_path(), json.dumps({"key": key, "commands": rows}).encode())
    except OSError:
        pass
