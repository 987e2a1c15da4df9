"""A fleet started, stopped and restarted at once: the real claude CLI on the scripted model,
local runtime. What these show is order, never time: an agent that fails (slowly or at once)
is reported after the others were, and the others were started all the same."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from sac.testing import make_agent, status, wait_for

pytestmark = pytest.mark.live

#: A startup prompt the model never answers, in an agent whose turns time out after 4 s: it
#: fails its start, slowly (the failure a fleet must not wait for).
SLOW_FAIL = """\
rules:
  - match: "Hello! I am"
    stall: 60
"""


def _slow_failing(home, name: str, turn_timeout: int = 4) -> None:
    spec = make_agent(home, name, "local")
    spec.write_text(
        spec.read_text().replace("    model: haiku\n", f"    model: haiku\n    turn_timeout: {turn_timeout}\n")
    )
    (spec.parent / "script.yaml").write_text(SLOW_FAIL)


def _broken(home, name: str) -> None:
    """Fails its preflight at once: a mount whose source does not exist."""
    make_agent(home, name, "local", extra=f"  mounts: ['{home}/no-such-dir:/data']\n")


def _final_line(lines: list[str], name: str) -> int:
    """Where the line that ends ``name``'s start is (its ready or failed line)."""
    ends = [
        i
        for i, line in enumerate(lines)
        if line.startswith((f"{name}: ready", f"{name}: failed", f"sac: error: agent {name} "))
    ]
    assert len(ends) == 1, (name, lines)
    return ends[0]


def test_a_failing_agent_neither_stops_nor_delays_the_others(fleet, sac):
    _slow_failing(fleet, "slow")
    _broken(fleet, "broken")
    for name in ("a", "b", "c"):
        make_agent(fleet, name, "local")

    done = sac("agents", "start", "slow", "broken", "a", "b", "c", "--jobs", "5", "--json")
    assert done.returncode == 1, done.stderr
    rows = json.loads(done.stdout)
    assert [r["name"] for r in rows] == ["slow", "broken", "a", "b", "c"]  # in the order asked
    assert {r["name"]: r["ok"] for r in rows} == {"slow": False, "broken": False, "a": True, "b": True, "c": True}
    for name in ("a", "b", "c"):
        assert status(sac, name)["state"] == "ready"
    assert status(sac, "broken")["state"] == "never-started"  # its preflight failed: nothing spawned
    # slow was asked for first, and its start ended last: the others did not wait for it
    lines = done.stderr.splitlines()
    assert max(_final_line(lines, n) for n in ("broken", "a", "b", "c")) < _final_line(lines, "slow")


def test_several_stop_at_once_and_one_unknown_name_stops_none_of_the_others(fleet, sac):
    for name in ("a", "b"):
        make_agent(fleet, name, "local")
    sac("agents", "start", "a", "b", check=True)

    done = sac("agents", "stop", "a", "nobody", "b", "--json")
    assert done.returncode == 2  # an unknown name is bad input
    results = json.loads(done.stdout)
    assert [(r["name"], r["ok"]) for r in results] == [("a", True), ("nobody", False), ("b", True)]
    assert {status(sac, n)["state"] for n in ("a", "b")} == {"stopped"}


def test_restart_of_several_resumes_each_session(fleet, sac):
    for name in ("a", "b"):
        make_agent(fleet, name, "local")
    sac("agents", "start", "a", "b", check=True)
    before = {n: status(sac, n)["session_id"] for n in ("a", "b")}

    done = sac("agents", "restart", "a", "b", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["name"], r["state"], r["session_id"]) for r in rows] == [
        ("a", "ready", before["a"]),
        ("b", "ready", before["b"]),
    ]
    assert sac("agents", "send", "b", "What is 2+2?", check=True).stdout == "4\n"


FORKED = "sac: runner forked from the pre-imported template"


def test_several_runners_are_forked_from_one_template_and_outlive_it(fleet, sac):
    for name in ("a", "b", "c"):
        make_agent(fleet, name, "local")
    sac("agents", "start", "a", "b", check=True)
    sac("agents", "start", "c", check=True)  # one alone: nothing to share, spawned the plain way
    logs = {n: (fleet / "runtime" / n / "runner.log").read_text() for n in ("a", "b", "c")}
    assert [FORKED in logs[n] for n in ("a", "b", "c")] == [True, True, False]
    assert sac("agents", "send", "a", "What is 2+2?", check=True).stdout == "4\n"  # the template is gone

    sac("agents", "stop", "a", "b", check=True)
    sac("agents", "start", "a", "b", check=True, env={"SAC_FORKSERVER": "0"})
    for n in ("a", "b"):
        assert (fleet / "runtime" / n / "runner.log").read_text().count(FORKED) == 1  # the first run's


def test_ctrl_c_ends_a_fleet_start_and_begins_no_other_agent(fleet, sac):
    names = ["a", "b", "c", "d"]
    for name in names:
        _slow_failing(fleet, name, turn_timeout=60)  # each stays "starting" at its startup prompt
    cli = subprocess.Popen(
        [sys.executable, "-m", "sac", "agents", "start", *names, "--jobs", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        wait_for(lambda: [status(sac, n)["state"] for n in names].count("starting") == 2, 60, "two starting")
        cli.send_signal(signal.SIGINT)
        err = cli.communicate(timeout=30)[1]
    finally:
        cli.kill()
    assert cli.returncode == 1, err  # click's "Aborted!"
    states = sorted(status(sac, n)["state"] for n in names)
    assert states == ["never-started", "never-started", "starting", "starting"], err
    assert "sac: interrupted while" in err and "were starting" in err
