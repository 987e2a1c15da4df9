"""Shared fixtures: an isolated SAC_HOME and project dir, and ways to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "agents"


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


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh SAC_HOME, and a fresh working directory so no project config leaks in."""
    return isolate(monkeypatch, tmp_path)


def write_agent(root: Path, name: str, text: str) -> Path:
    """root/name/spec.yaml with ``text``; returns the spec path."""
    spec = root / name / "spec.yaml"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(text)
    return spec


MINIMAL = """\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: local
  claude:
    provider: scripted
"""


@pytest.fixture
def sac(home):
    """Run the real ``sac`` CLI in a subprocess (as users do); returns CompletedProcess."""

    def run(*args: str, env: dict[str, str] | None = None, check: bool = False) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        done = subprocess.run(
            [sys.executable, "-m", "sac", *args], capture_output=True, text=True, env=full_env, timeout=60
        )
        if check and done.returncode != 0:
            raise AssertionError(f"sac {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (SAC_NO_SKIP=1, set by .ci/run) a skipped test is a failure: a test that
    cannot find its runtime must not pass silently where the runtime should be."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("SAC_NO_SKIP") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under SAC_NO_SKIP=1 (CI): {reason}"


@pytest.fixture
def fleet(home, sac):
    """``home`` for tests that start agents: stops every agent the test started, whatever happened."""
    yield home
    runtime = home / "runtime"
    names = [p.name for p in runtime.iterdir()] if runtime.is_dir() else []
    if names:
        sac("agents", "stop", *names)
