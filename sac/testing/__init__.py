"""Test helpers for sac and its plugins, shipped with sac as a pytest plugin.

``pip install sac`` registers :mod:`sac.testing.plugin` with pytest (the ``pytest11`` entry
point, as tox and datasette ship theirs), so a plugin's own test suite gets, with no conftest:

* ``sac_home``: a fresh ``SAC_HOME`` and working directory, no ``SAC_*`` setting of the
  developer leaking in;
* ``sac_cli``: runs the real ``sac`` command in a subprocess, as users run it;
* ``sac_fleet``: ``sac_home`` for tests that start agents, stopping every one at teardown;
* under ``SAC_NO_SKIP=1`` a skipped test fails (CI, where the runtimes must be present).

and imports from here: ``make_agent`` (an agent on the scripted model, which plays
``SCRIPT``), ``write_agent``, ``status``, ``wait_for``, ``transcript``,
``assert_in_no_argv``, ``need_runtime`` and the runtime probes. docs/plugins.md ("Testing
your plugin") shows them in use. Nothing here is imported by sac itself.
"""

from __future__ import annotations

from sac.testing.home import MINIMAL, SAC_VARS, isolate, run_sac, write_agent
from sac.testing.live import (
    RUNTIMES,
    SCRIPT,
    agent_spec,
    apptainer_ready,
    assert_in_no_argv,
    docker_ready,
    ensure_apptainer_image,
    ensure_docker_image,
    make_agent,
    need_runtime,
    status,
    transcript,
    wait_for,
)

__all__ = [
    "MINIMAL",
    "RUNTIMES",
    "SAC_VARS",
    "SCRIPT",
    "agent_spec",
    "apptainer_ready",
    "assert_in_no_argv",
    "docker_ready",
    "ensure_apptainer_image",
    "ensure_docker_image",
    "isolate",
    "make_agent",
    "need_runtime",
    "run_sac",
    "status",
    "transcript",
    "wait_for",
    "write_agent",
]
