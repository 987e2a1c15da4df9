"""The pytest plugin (entry point ``pytest11: sac``): sac's fixtures for any test suite.

Loaded by pytest only; ``sac`` itself never imports it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sac.testing.home import isolate, run_sac


@pytest.fixture
def sac_home(tmp_path, monkeypatch) -> Path:
    """A fresh SAC_HOME, and a fresh working directory so no project config leaks in."""
    return isolate(monkeypatch, tmp_path)


@pytest.fixture
def sac_cli(sac_home):
    """Run the real ``sac`` CLI in a subprocess (as users do): ``sac_cli("agents", "status",
    env={...}, check=True)`` returns the CompletedProcess."""
    return run_sac


@pytest.fixture
def sac_fleet(sac_home, sac_cli):
    """``sac_home`` for tests that start agents: stops every agent the test started, whatever happened."""
    yield sac_home
    runtime = sac_home / "runtime"
    names = [p.name for p in runtime.iterdir()] if runtime.is_dir() else []
    if names:
        sac_cli("agents", "stop", *names)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (SAC_NO_SKIP=1) a skipped test is a failure: a test that cannot find its
    runtime must not pass silently where the runtime should be."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("SAC_NO_SKIP") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under SAC_NO_SKIP=1 (CI): {reason}"
