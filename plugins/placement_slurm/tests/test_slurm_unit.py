"""sac_placement_slurm without a cluster: the job's options and script, reading Slurm's
answers, the settings as spec.yaml states them, and what a placed runner learns from its
environment. (tests/live/test_slurm_live.py drives a real cluster.)"""

from __future__ import annotations

import shlex
import signal
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sac_placement_slurm import Slurm, SlurmSettings, batch_script, extra_problems, job_name, sbatch_options
from sac_placement_slurm.slurm import job

from sac_hookspecs import Agent, Here
from sac_hookspecs.spec import AgentSpec


def _agent(tmp_path: Path, name: str = "alpha") -> Agent:
    return Agent(
        name=name,
        document=AgentSpec(apiVersion="scitex-agent-container/v3", kind="Agent"),
        spec_path=tmp_path / "agents" / name / "spec.yaml",
        runtime_dir=tmp_path / "runtime" / name,
    )


def test_the_job_asks_for_the_settings_and_sac_keeps_its_own_options_last(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path))
    s = SlurmSettings(
        partition="gpu", time="4:00:00", account="lab", mem="8G", cpus=4, gres="gpu:1", extra=["--mail-type=END"]
    )
    opts = sbatch_options(_agent(tmp_path), s)
    assert opts[:7] == [
        "--partition=gpu",
        "--time=4:00:00",
        "--account=lab",
        "--mem=8G",
        "--gres=gpu:1",
        "--cpus-per-task=4",
        "--mail-type=END",
    ]
    assert f"--job-name={job_name('alpha')}" in opts and "--dependency=singleton" in opts
    assert "--requeue" in opts and "--signal=B:USR1@120" in opts
    assert f"--output={tmp_path / 'runtime' / 'alpha' / 'runner.log'}" in opts and "--open-mode=append" in opts


def test_one_job_name_per_agent_and_sac_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_HOME", str(tmp_path / "a"))
    first = job_name("alpha")
    monkeypatch.setenv("SAC_HOME", str(tmp_path / "b"))
    assert job_name("alpha") != first and job_name("beta") != job_name("alpha")
    assert first.startswith("sac-alpha-")


@pytest.mark.parametrize(
    "option", ["--job-name=x", "-J", "--dependency=afterok:1", "--output=/tmp/x", "--signal=USR2@5", "--export=NONE"]
)
def test_an_extra_option_that_would_break_sac_is_refused(option):
    assert extra_problems(SlurmSettings(extra=[option])) == [
        f"extra[0] {option!r}: sac sets {option.split('=')[0]} itself"
    ]


@pytest.mark.parametrize(
    "option, owned",
    [("--sig=B:USR2@5", "--signal"), ("--out=/tmp/x", "--output"), ("-o/tmp/x", "-o"), ("-Jother", "-J"),
     ("--array=1-4", "--array"), ("-M", "-M"), ("--clusters=c2", "--clusters"), ("--dep=afterok:1", "--dependency")],
)  # fmt: skip
def test_abbreviated_and_attached_forms_of_sacs_options_are_refused_too(option, owned):
    assert extra_problems(SlurmSettings(extra=[option])) == [f"extra[0] {option!r}: sac sets {owned} itself"]


@pytest.mark.parametrize(
    "time, seconds", [("30", 1800), ("1:30", 90), ("2:00:00", 7200), ("1-0", 86400), ("1-2:3:4", 93784), ("UNLIMITED", None)]
)  # fmt: skip
def test_signal_before_must_come_before_the_time_limit(time, seconds):
    from sac_placement_slurm import time_seconds

    assert time_seconds(time) == seconds
    problems = extra_problems(SlurmSettings(time=time, signal_before=120))
    assert bool(problems) == (seconds is not None and seconds <= 120), problems
    if problems:
        assert "signal_before 120 s is not before the end" in problems[0]


def test_a_percent_in_sac_home_is_written_literally_in_the_log_path(tmp_path, monkeypatch):
    home = tmp_path / "100%x"
    monkeypatch.setenv("SAC_HOME", str(home))
    out = [o for o in sbatch_options(_agent(home, "a"), SlurmSettings()) if o.startswith("--output=")]
    assert out == [f"--output={tmp_path}/100%%x/runtime/a/runner.log"]


def test_an_extra_that_is_not_an_option_is_refused():
    assert "is not an sbatch option" in extra_problems(SlurmSettings(extra=["hostname"]))[0]
    assert extra_problems(SlurmSettings(extra=["--mail-type=END", "--exclusive"])) == []


@given(
    st.dictionaries(
        st.sampled_from(["SAC_HOME", "SAC_PLACEMENT"]), st.text(min_size=1).filter(lambda t: "\x00" not in t)
    )
)
def test_the_script_passes_variables_exactly_and_execs_the_runner(env):
    command = ["/venv/bin/python", "-m", "sac", "_runner", "/a b/spec.yaml"]
    script = batch_script(command, env)
    assert script.splitlines()[-1] == f"exec {shlex.join(command)}"
    shown = subprocess.run(
        ["sh", "-c", script.replace(f"exec {shlex.join(command)}", "env -0")], capture_output=True, check=True
    ).stdout.split(b"\0")
    for k, v in env.items():
        assert f"{k}={v}".encode() in shown


@pytest.mark.parametrize(
    ("fields", "state", "live", "running", "node", "reason"),
    [
        ("123|RUNNING|node1|None", "RUNNING", True, True, "node1", ""),
        ("124|PENDING||Dependency", "PENDING", True, False, "", "Dependency"),
        ("125|CANCELLED by 0|node1|None", "CANCELLED", False, False, "node1", ""),
        ("126_3|COMPLETING|node2|", "COMPLETING", True, False, "node2", ""),
        ("127|CANCELLED+|node1|", "CANCELLED", False, False, "node1", ""),  # sact's words
        ("128|NODE_FAIL|node2|", "NODE_FAIL", False, False, "node2", ""),
        ("129|TIMEOUT|None assigned|", "TIMEOUT", False, False, "", ""),
        ("130|REQUEUED|(null)|", "REQUEUED", True, False, "", ""),
    ],
)
def test_slurm_answers_are_read_into_jobs(fields, state, live, running, node, reason):
    j = job(fields.split("|"))
    assert (j.state, j.live, j.running, j.node, j.reason) == (state, live, running, node, reason)


def test_a_placed_runner_learns_its_job_from_its_environment(monkeypatch):
    slurm = Slurm()
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm.here() is None
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURMD_NODENAME", "node7")
    monkeypatch.setenv("SAC_NODE_ADDRESS", "10.1.2.3")
    here = slurm.here()
    assert here is not None
    assert (here.job_id, here.node, here.address, here.resumed, here.drain_signal) == (
        "42",
        "node7",
        "10.1.2.3",
        False,
        signal.SIGUSR1,
    )
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert slurm.here().resumed  # requeued: the session goes on


def test_a_loopback_address_is_never_where_a_node_is_reached(monkeypatch):
    from sac_placement_slurm import reachable_address

    monkeypatch.setenv("SAC_NODE_ADDRESS", "127.0.0.1")
    monkeypatch.setenv("PATH", "/nonexistent")  # no scontrol: NodeAddr unknown
    monkeypatch.setenv("SLURM_SUBMIT_HOST", "10.255.255.1")
    assert not reachable_address("node1").startswith("127.")


def test_without_slurm_commands_it_says_so(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    slurm = Slurm()
    assert "sbatch is not on PATH" in (slurm.available() or "")
    with pytest.raises(Exception, match="squeue is not on PATH"):
        slurm.jobs(["1"])


# What `scontrol show job --oneliner` said inside a job at the SIGTERM of `scontrol requeue`
# (Restarts went 0 -> 1) and of `scancel` (it stayed 0), on the test cluster (Slurm 22.05).
REQUEUED = "JobId=90 JobName=jt.sh UserId=root(0) JobState=COMPLETING Reason=None Requeue=1 Restarts=1 BatchFlag=1"
CANCELLED = "JobId=91 JobName=jt.sh UserId=root(0) JobState=COMPLETING Reason=None Requeue=1 Restarts=0 BatchFlag=1"


@pytest.mark.parametrize(
    "answer, restart_count, requeued",
    [
        (REQUEUED, None, True),
        (CANCELLED, None, False),
        (REQUEUED, "1", False),
        (REQUEUED.replace("=1 B", "=2 B"), "1", True),
    ],
)
def test_a_requeue_by_slurm_is_told_from_a_cancel(monkeypatch, answer, restart_count, requeued):
    """A runner ended by a SIGTERM sac did not send resubmits its agent only when Slurm did
    not requeue the job itself (else two jobs would run one agent)."""
    from sac_placement_slurm import slurm as commands

    seen = []
    monkeypatch.setattr(commands, "run", lambda argv, **kw: seen.append(argv) or answer)
    if restart_count is None:
        monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    else:
        monkeypatch.setenv("SLURM_RESTART_COUNT", restart_count)
    here = Here(job_id="90", node="node1", address="10.0.0.1", resumed=False, drain_signal=signal.SIGUSR1)
    assert Slurm().requeued(here) is requeued
    assert seen == [["scontrol", "show", "job", "--oneliner", "90"]]
    assert commands.restarts("JobId=1 JobState=PENDING") == 0
