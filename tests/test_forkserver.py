"""sac.runner.forkserver: the pre-imported runner template, driven as sac.lifecycle drives it,
with real processes (the runners it forks here fail fast: their spec does not exist)."""

from __future__ import annotations

import os
import signal
import stat
import sys
import time

import pytest

from sac import lifecycle
from sac.runner import forkserver
from sac.runner.forkserver import Template

TEMPLATE = [sys.executable, "-m", "sac", lifecycle.FORKSERVER_COMMAND]


def wait_exit(proc, seconds: float = 30) -> int | None:
    deadline = time.monotonic() + seconds
    while (code := proc.poll()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return code


def test_a_forked_runner_is_the_runner_its_log_and_its_exit_status_included(home, tmp_path):
    template = Template(TEMPLATE)
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
    template = Template(TEMPLATE)
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


def test_a_forked_runner_has_the_callers_environment_and_directory_not_the_templates(home, tmp_path, monkeypatch):
    template = Template(TEMPLATE)  # started here, with this SAC_HOME and this directory
    try:
        elsewhere, other_home = tmp_path / "elsewhere", tmp_path / "other-home"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        monkeypatch.setenv("SAC_HOME", str(other_home))
        log = tmp_path / "runner.log"
        assert wait_exit(template.spawn(["ghost"], log)) == 2  # no agent ghost: it says where it looked
        text = log.read_text()
        assert f"{elsewhere}/.scitex/agent-container/agents/ghost/spec.yaml" in text
        assert f"{other_home}/agents/ghost/spec.yaml" in text and str(home) not in text
    finally:
        template.close()


def test_a_link_planted_where_the_log_goes_is_refused_as_a_plain_spawn_refuses_it(home, tmp_path):
    from sac.errors import SacError

    target = tmp_path / "victim"
    target.write_text("untouched\n")
    log = tmp_path / "runner.log"
    log.symlink_to(target)
    template = Template(TEMPLATE)
    try:
        with pytest.raises(SacError):
            template.spawn(["ghost"], log)
        assert target.read_text() == "untouched\n"
        assert not template.broken  # the template is fine: the next one forks
        assert wait_exit(template.spawn(["ghost"], tmp_path / "ok.log")) == 2
    finally:
        template.close()


def test_a_stuck_template_is_given_up_and_never_waited_for_twice(home, tmp_path, monkeypatch):
    monkeypatch.setattr(forkserver, "SPAWN_WITHIN", 1.0)
    template = Template(TEMPLATE)
    try:
        os.kill(template.proc.pid, signal.SIGSTOP)
        with pytest.raises(OSError):
            template.spawn(["ghost"], tmp_path / "a.log")
        assert template.broken
        with pytest.raises(OSError, match="failed before"):  # at once, not after another wait
            template.spawn(["ghost"], tmp_path / "b.log")
    finally:
        template.close()  # a stopped template is killed, not waited for
    assert not os.path.exists(template.dir)


def test_a_template_that_never_says_ready_is_not_used_and_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(forkserver, "READY_WITHIN", 1.0)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where its directory is made
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    with pytest.raises(OSError, match="no answer within 1 s"):
        Template([sys.executable, "-c", "import time; time.sleep(60)"])
    assert list(tmp_path.iterdir()) == []  # its directory is gone, and so is the process (reaped)


def test_the_socket_must_be_the_templates_own(home, tmp_path):
    import socket

    template = Template(TEMPLATE)
    impostor = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path = os.path.join(template.dir, "sock")
        os.unlink(path)
        impostor.bind(path)  # the same place, another process (this one)
        impostor.listen(1)
        with pytest.raises(OSError):
            template.spawn(["ghost"], tmp_path / "a.log")
    finally:
        impostor.close()
        template.close()


def test_the_exit_status_is_read_only_once_its_whole_line_arrived():
    import socket

    ours, theirs = socket.socketpair()
    forked = forkserver.Forked(123, ours, b"")
    assert forked.poll() is None
    theirs.sendall(b'{"exit": ')
    assert forked.poll() is None  # half a line: not yet
    theirs.sendall(b"3}\n")
    assert forked.poll() == 3 and forked.poll() == 3
    theirs.close()
