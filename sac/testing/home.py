"""An isolated SAC_HOME and working directory, agent specs in it, and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: sac's own variables, cleared for every test so the developer's settings never leak in.
SAC_VARS = (
    "SAC_AGENTS_PATH",
    "SAC_RUNTIME",
    "SAC_PROVIDER",
    "SAC_PLUGINS",
    "SAC_DEBUG",
    "SAC_TRACE_HOOKS",
    "SAC_SAFE_DIRECTORIES",
)

#: The smallest spec that starts: the local runtime and the offline scripted model.
MINIMAL = """\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: local
  claude:
    provider: scripted
"""


def isolate(monkeypatch, base: Path) -> Path:
    """base/sac-home as SAC_HOME, base/work as the working directory (no project config
    leaks in), no SAC_* settings; returns SAC_HOME."""
    sac_home, work = base / "sac-home", base / "work"
    sac_home.mkdir()
    work.mkdir()
    monkeypatch.setenv("SAC_HOME", str(sac_home))
    for var in SAC_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(work)
    return sac_home


def write_agent(root: Path, name: str, text: str) -> Path:
    """root/name/spec.yaml with ``text``; returns the spec path."""
    spec = root / name / "spec.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(text)
    return spec


def run_sac(
    *args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess:
    """The sac CLI with ``args``, in a subprocess of this interpreter, in this process's environment plus
    ``env``; with ``check``, a non-zero exit raises AssertionError with its output."""
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "sac", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )
    if check and done.returncode != 0:
        raise AssertionError(f"sac {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done
