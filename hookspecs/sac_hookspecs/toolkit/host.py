"""Where sac keeps things on this host, and which sac this is: what a plugin needs to put its
own files beside sac's (a runtime's images in ``sac_home() / "containers"``) and to record
what built them."""

from __future__ import annotations

import os
from pathlib import Path


def sac_home() -> Path:
    """``$SAC_HOME``, by default ``~/.scitex/agent-container``::

    config.yaml          user config
    agents/<name>/       agent definitions (spec.yaml, to_home/, dot_claude/)
    containers/          built images (a runtime plugin's to manage)
    credentials/         the file credential store (0700 dir, 0600 files)
    runtime/<name>/      everything sac keeps about a running agent (deletable)
    """
    return Path(os.environ.get("SAC_HOME") or "~/.scitex/agent-container").expanduser()


def sac_version() -> str:
    """The version of the installed ``sac`` distribution (for an image's metadata), or
    ``"unknown"`` when sac is not installed as a distribution. Read from its metadata, so a
    plugin never imports the core."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sac")
    except PackageNotFoundError:
        return "unknown"
