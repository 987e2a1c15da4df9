"""Where sac keeps things. ``SAC_HOME`` (default ``~/.scitex/agent-container``) holds::

    config.yaml          user config
    agents/<name>/       agent definitions (spec.yaml, to_home/, dot_claude/)
    containers/          built images
    credentials/         the file credential store (0700 dir, 0600 files)
    runtime/<name>/      everything sac keeps about a running agent (deletable)

A project may have its own ``./.scitex/agent-container/`` with ``config.yaml`` and
``agents/``; it is searched before the user's.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_SUBDIR = Path(".scitex") / "agent-container"


def sac_home() -> Path:
    return Path(os.environ.get("SAC_HOME") or "~/.scitex/agent-container").expanduser()


def project_dir() -> Path:
    return Path.cwd() / PROJECT_SUBDIR


def runtime_dir(name: str) -> Path:
    return sac_home() / "runtime" / name


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
