"""Placed agents without a cluster: what status concludes from a placed runner's files and its
job, the TCP control endpoint and its token, which placement an agent goes to, and the
errors of --on and spec.placement. (tests/live/test_slurm_live.py runs them on real Slurm.)"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import msgspec
import pytest

from sac import lifecycle
from sac.placing import JobBook, placement_name
from sac.runner import control
from sac.state import AgentDir, AgentState, Heartbeat, Phase
from sac_hookspecs import Job

SPEC = """\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: local
{extra}"""


def _write(home, phase: Phase, *, host="node9", pid=77, job_id="12", beat_age: float | None = 1.0, error=None):
    d = AgentDir("placed")
    d.make()
    d.write_state(
        AgentState(
            name="placed",
            state=phase,
            pid=pid,
            pid_start=1,
            spec_path="/x/spec.yaml",
            runtime="local",
            started_at=time.time() - 60,
            placement="slurm",
            job_id=job_id,
            host=host,
            last_error=error,
        )
    )
    if beat_age is not None:
        d.write_heartbeat(Heartbeat(time=time.time() - beat_age, state=phase, pid=pid))
    return d


def _book(answer: Job | str | None) -> JobBook:
    book = JobBook(plugins=object())
    book._answers[("slurm", "12")] = answer
    return book


RUNNING = Job(id="12", state="RUNNING", live=True, running=True, node="node9")
PENDING = Job(id="12", state="PENDING", live=True, reason="Priority")
CANCELLED = Job(id="12", state="CANCELLED", live=False, node="node9")


@pytest.mark.parametrize(
    ("phase", "pid", "beat_age", "job", "want", "error_says"),
    [
        (Phase.READY, 77, 1.0, RUNNING, Phase.READY, None),
        (Phase.READY, 77, 120.0, RUNNING, Phase.UNRESPONSIVE, None),  # the job runs, the runner does not beat
        (Phase.READY, 77, 1.0, CANCELLED, Phase.DEAD, "its slurm job 12 ended: CANCELLED"),
        (Phase.READY, 77, 60.0, JobBook.GONE, Phase.DEAD, "no longer known to slurm"),
        # a job Slurm does not list (a controller restarted, a purge) but a runner beating now: alive
        (Phase.READY, 77, 1.0, JobBook.GONE, Phase.READY, None),
        (Phase.READY, 77, 1.0, PENDING, Phase.QUEUED, None),  # requeued by Slurm, not back yet
        (Phase.READY, 77, 1.0, None, Phase.READY, None),  # Slurm cannot answer: the heartbeat decides
        (Phase.READY, 77, 120.0, None, Phase.DEAD, "stopped beating"),
        (Phase.QUEUED, 0, None, PENDING, Phase.QUEUED, None),
        (Phase.QUEUED, 0, None, RUNNING, Phase.STARTING, None),  # its runner has not written yet
        (Phase.QUEUED, 0, None, CANCELLED, Phase.DEAD, "before its runner ran"),
        (Phase.QUEUED, 0, None, JobBook.GONE, Phase.DEAD, "before its runner ran"),
        (Phase.STOPPED, 77, 120.0, JobBook.GONE, Phase.STOPPED, None),
    ],
)
def test_status_of_a_placed_agent(home, phase, pid, beat_age, job, want, error_says):
    d = _write(home, phase, pid=pid, beat_age=beat_age, host="node9" if pid else None)
    st = lifecycle.read_status(d, jobs=_book(job)).status
    assert st.state == want, st
    assert st.pid is None  # never a pid of another host's process table
    if error_says:
        assert error_says in (st.last_error or ""), st.last_error
    if want.is_live and want != Phase.UNRESPONSIVE:
        said = job.state if isinstance(job, Job) else "gone" if job is JobBook.GONE else None
        assert st.host == "node9" and st.job_state == said


def test_a_local_agent_of_this_host_is_never_read_as_placed(home):
    """The runner records its host always; this host's agents keep the process-table truth."""
    import os

    from sac.state import process_start, this_host

    d = AgentDir("here")
    d.make()
    me = os.getpid()
    d.write_state(
        AgentState(
            name="here",
            state=Phase.READY,
            pid=me,
            pid_start=process_start(me) or 0,
            spec_path="",
            runtime="local",
            host=this_host(),
        )
    )
    d.write_heartbeat(Heartbeat(time=time.time(), state=Phase.READY, pid=me))
    assert not d.read_state().elsewhere()
    assert lifecycle.read_status(d).status.pid == me


class _Served:
    """A real runner-side TCP control endpoint in a thread, answering Health."""

    def __init__(self, token: str) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def handle(request):
            return {"ok": True, "op": type(request).__name__}

        async def main():
            self.server, self.url = await control.serve_tcp("127.0.0.1", handle, token)
            ready.set()
            await asyncio.Event().wait()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self.thread.start()
        assert ready.wait(10)


def test_the_control_endpoint_answers_its_token_only_and_sac_finds_it_from_the_state(home):
    from sac_hookspecs.toolkit.files import write_atomic

    served = _Served("s3cret-token")
    d = _write(home, Phase.READY)
    st = d.read_state()
    st.control_url = served.url
    d.write_state(st)
    write_atomic(d.path(control.TOKEN_FILE), b"s3cret-token\n", mode=0o600)
    assert control.call(d.socket, control.Health(), timeout=10) == {"ok": True, "op": "Health"}

    write_atomic(d.path(control.TOKEN_FILE), b"another-token\n", mode=0o600)
    assert control.call(d.socket, control.Health(), timeout=10) == {
        "ok": False,
        "error": "unauthorized: a wrong or missing token",
    }
    d.path(control.TOKEN_FILE).unlink()
    with pytest.raises(control.SacError, match="cannot read the token"):
        control.call(d.socket, control.Health(), timeout=10)


def test_a_placed_agent_without_a_control_endpoint_says_where_it_runs(home):
    d = _write(home, Phase.STARTING)
    with pytest.raises(control.NotRunning, match="runs on node9 \\(job 12\\)"):
        control.call(d.socket, control.Health(), timeout=5)


def test_which_placement_an_agent_goes_to(home):
    from sac.agent import load_agent
    from sac.config import load_settings
    from sac.errors import UsageError
    from sac.plugins import Plugins
    from sac.testing import write_agent

    plugins, settings = Plugins(), load_settings()
    write_agent(home / "agents", "plain", SPEC.format(extra=""))
    write_agent(home / "agents", "hpc", SPEC.format(extra="  placement:\n    slurm: {partition: gpu}\n"))
    plain, hpc = (load_agent(n, plugins, settings) for n in ("plain", "hpc"))
    assert placement_name(plain, None) == "local" and placement_name(plain, "slurm") == "slurm"
    assert placement_name(hpc, None) == "slurm" and placement_name(hpc, "local") == "local"
    two = msgspec.defstruct("Placement", [("slurm", object, None), ("pbs", object, None)])(slurm={}, pbs={})

    class Spec:
        def section(self, name):
            return two

    class Two:
        name, spec = "two", Spec()

    with pytest.raises(UsageError, match="configures slurm and pbs"):  # --on must choose
        placement_name(Two(), None)  # type: ignore[arg-type]
    assert placement_name(Two(), "pbs") == "pbs"  # type: ignore[arg-type]


def test_bad_placement_settings_are_all_reported_at_once(home, sac):
    from sac.testing import write_agent

    write_agent(
        home / "agents",
        "bad",
        SPEC.format(extra="  placement:\n    slurm:\n      time: 1h\n      cpus: 0\n      walltime: 3\n"),
    )
    done = sac("agents", "check", "bad")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    for where in ("spec.yaml:7:13", "spec.yaml:8:13", "spec.yaml:9:7"):
        assert where in done.stderr, done.stderr
    assert "spec.placement.slurm.time" in done.stderr and "walltime" in done.stderr


def test_an_unknown_placement_and_foreground_elsewhere_are_usage_errors(home, sac):
    from sac.testing import write_agent

    write_agent(home / "agents", "a", SPEC.format(extra=""))
    done = sac("agents", "start", "a", "--on", "nowhere")
    assert done.returncode != 0 and "unknown placement 'nowhere' (installed: local, slurm)" in done.stderr
    done = sac("agents", "start", "a", "--on", "slurm", "--foreground")
    assert done.returncode == 2 and "cannot be combined with --on slurm" in done.stderr, done.stderr
    assert json.loads(sac("agents", "status", "a", "--json").stdout)["state"] == "never-started"
