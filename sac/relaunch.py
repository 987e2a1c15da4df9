"""How to run this sac again, the way this process was run: for a runner (spawned here, or
submitted to a placement), the runner template, a detached ``sac listen``."""

from __future__ import annotations

import sys
from pathlib import Path


def self_command() -> list[str]:
    """How to run sac again the way this process was run, to spawn a runner: the venv's
    console script, ``python sac.pyz`` (interpreter flags kept), else ``python -m sac``
    (which also covers the Python API and tests)."""
    script = sys.argv[0] if sys.argv else ""
    orig = list(getattr(sys, "orig_argv", []))
    tail = len(sys.argv) - 1
    if orig and (Path(script).name == "sac" or script.endswith(".pyz")) and len(orig) > tail:
        prefix = orig[: len(orig) - tail] if tail else orig
        return [sys.executable, *prefix[1:]]
    return [sys.executable, "-m", "sac"]


#: The hidden first argument that makes ``sac`` (the console script, ``python -m sac``, the
#: pyz) run the runner's entry point, sac.runner.entry, instead of the CLI.
RUNNER_COMMAND = "_runner"
