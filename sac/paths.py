"""Where sac keeps things: ``$SAC_HOME`` (:func:`sac_hookspecs.toolkit.host.sac_home`, whose
docstring shows what is in it) and the agents' runtime dirs under it. A project may have its
own ``./.scitex/agent-container/`` with ``config.yaml`` and ``agents/``; it is searched before
the user's.
"""

from __future__ import annotations

from pathlib import Path

from sac_hookspecs.toolkit.host import sac_home  # plugins find SAC_HOME the same way

PROJECT_SUBDIR = Path(".scitex") / "agent-container"


def project_dir() -> Path:
    return Path.cwd() / PROJECT_SUBDIR


def runtime_dir(name: str) -> Path:
    return sac_home() / "runtime" / name
