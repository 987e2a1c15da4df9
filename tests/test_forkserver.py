"""sac.runner.forkserver: the pre-imported runner template, driven as sac.lifecycle drives it,
with real processes (the runners it forks here fail fast: their spec does not exist)."""

from __future__ import annotations

import os
import stat
import sys
import time

from sac import lifecycle
from sac.runner.forkserver import Template

TEMPLATE = [sys.executable, "-m", "sac", lifecycle.FORKSERVER_COMMAND]


def wait_exit(proc, seconds: float = 30) -> int | None:
    deadline = time.monotonic() + seconds
    while (code := proc.poll()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return code


def test_a_forked_runner_is_the_runner_its_log_and_its_exit_status_included(home, tmp_path):
    template = Template(TEMPLATE, home)
    try:
        assert stat.S_IMODE(os.stat(template.dir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(os.path.join(template.dir, "sock")).st_mode) == 0o600
        log = tmp_path / "runner.log"
        first = template.spawn([str(tmp_path / "nowhere" / "spec.yaml")], log)
        second = template.spawn([str(tmp_path / "elsewhere" / "spec.yaml"), "--resume"], log)
        assert first.pid != second.pid and template.proc.pid not in (first.pid, second.pid)
        assert (wait_exit(first), wait_exit(second)) == (2, 2)  # a spec not found: the runner's usage error
        text = log.read_text()
        assert text.count("sac: runner forked from the pre-imported template") == 2
        assert "nowhere" in text and "elsewhere" in text  # each child ran its own argv
        assert os.getsid(0) != os.getsid(template.proc.pid)  # the template (and its runners) detached
    finally:
        template.close()
    assert template.proc.returncode == 0 and not os.path.exists(template.dir)


def test_a_runner_that_ends_at_once_is_told_not_lost(home, tmp_path):
    """Its exit status may arrive with its pid: the next line is not swallowed."""
    template = Template(TEMPLATE, home)
    try:
        codes = []
        for i in range(5):
            codes.append(wait_exit(template.spawn(["--no-such-flag"], tmp_path / f"{i}.log")))
        assert codes == [2] * 5  # argparse's usage error, every time
    finally:
        template.close()


def test_without_a_template_runners_are_spawned_the_plain_way(home, monkeypatch):
    monkeypatch.setattr(lifecycle, "self_command", lambda: [sys.executable, "-c", "print('not a template')"])
    with lifecycle.runner_template() as template:
        assert template is None and lifecycle._template is None
    monkeypatch.setenv("SAC_FORKSERVER", "0")
    monkeypatch.setattr(lifecycle, "self_command", lambda: [sys.executable, "-m", "sac"])
    with lifecycle.runner_template() as template:
        assert template is None
    monkeypatch.delenv("SAC_FORKSERVER")
    with lifecycle.runner_template() as template:
        assert template is not None and lifecycle._template is template
        with lifecycle.runner_template() as inner:  # one template at a time
            assert inner is None
    assert lifecycle._template is None and template.proc.returncode == 0
