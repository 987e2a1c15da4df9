"""Agents whose runner a placement runs elsewhere (``sac agents start NAME --on slurm``).

The submitting side: which placement an agent goes to, submitting its runner as a job, and
asking the placements about their jobs (once per placement for a whole fleet). The job side
(a placed runner: its TCP control endpoint, draining at the time limit, requeueing) is in
:mod:`sac.runner.runner`. Both meet in the agent's runtime dir, on a filesystem both see.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sac.errors import SacError, UsageError
from sac.state import AgentDir, AgentState, Phase

if TYPE_CHECKING:
    from sac_hookspecs import Agent, Job, Placement

#: The placement of an agent whose state names none, and of ``--on local``.
LOCAL = "local"
#: The environment variable that tells a runner which placement runs it (set in its job).
PLACEMENT_ENV = "SAC_PLACEMENT"


def placement_name(agent: Agent, on: str | None) -> str:
    """Where ``agent`` goes: ``--on NAME`` if given; else the one placement its
    ``spec.placement`` configures; else ``local``."""
    if on:
        return on
    section = agent.spec.section("placement")
    configured = [] if section is None else [k for k in section.__struct_fields__ if getattr(section, k) is not None]
    if len(configured) > 1:
        raise UsageError(
            f"agent {agent.name}: spec.placement configures {' and '.join(configured)}; which one is ambiguous",
            hint=f"choose with --on, e.g. `sac agents start {agent.name} --on {configured[0]}`",
        )
    return configured[0] if configured else LOCAL


def get_placement(plugins: Any, name: str) -> Placement:
    return plugins.placements.get(name)


def settings_for(agent: Agent, placement: Placement) -> Any:
    """``spec.placement.<name>`` of ``agent``, else the placement's defaults (or None)."""
    section = agent.spec.section("placement")
    mine = getattr(section, placement.name, None) if section is not None else None
    if mine is None and placement.settings is not None:
        return placement.settings()
    return mine


def runner_command(agent: Agent, *, resume: bool, runtime: str | None) -> list[str]:
    """The argv of ``agent``'s runner, run the way this sac runs (venv, pyz, ``-m sac``)."""
    from sac.relaunch import RUNNER_COMMAND, self_command

    argv = [*self_command(), RUNNER_COMMAND, str(agent.spec_path.resolve())]
    if runtime:
        argv += ["--runtime", runtime]
    if resume:
        argv.append("--resume")
    return argv


def submit(
    agent: Agent, plugins: Any, name: str, *, resume: bool, runtime: str | None, previous: AgentState | None
) -> AgentState:
    """Submit ``agent``'s runner to placement ``name``; its state (queued) as written."""
    from sac.paths import sac_home

    placement = get_placement(plugins, name)
    why = placement.available()
    if why:
        raise SacError(f"agent {agent.name} cannot be placed on {name}: {why}")
    d = AgentDir(agent.name)
    d.make()
    d.path("stop-requested").unlink(missing_ok=True)  # sac.runner.runner.STOP_REQUESTED: a new run
    keep = previous if previous is not None and resume else None
    state = AgentState(
        name=agent.name,
        state=Phase.QUEUED,
        pid=0,
        pid_start=0,
        spec_path=str(agent.spec_path),
        runtime=runtime or agent.spec.runtime or "",
        started_at=time.time(),
        placement=name,
        session_id=keep.session_id if keep else None,
        restarts=keep.restarts if keep else 0,
        turns=previous.turns if previous else 0,
        last_error=keep.last_error if keep else None,
    )
    if previous is not None:
        state.add(previous)  # usage counts across runs
    d.write_state(state)  # before the job exists: a status meanwhile says queued, not never-started
    env = {PLACEMENT_ENV: name, "SAC_HOME": str(sac_home())}
    try:
        job = placement.submit(
            agent, settings_for(agent, placement), runner_command(agent, resume=resume, runtime=runtime), env
        )
    except BaseException:  # nothing was queued: the agent is as it was, not "queued" forever
        if previous is not None:
            d.write_state(previous)
        else:
            d.path("state.json").unlink(missing_ok=True)
        raise
    state.job_id = job.id
    now = d.read_state()
    # The runner writes its own state (with the job id) as it starts; write ours only if it has
    # not (it records a step a moment later anyway, so even a lost race heals at once).
    if now is not None and now.state == Phase.QUEUED and now.pid == 0:
        d.write_state(state)
    return state


def resubmitter(agent: Agent, plugins: Any, name: str, runtime: str | None):
    """For a placed runner: how to submit its agent again (its job was ended from outside,
    or could not be requeued); returns the new job's id."""

    def again(state: AgentState) -> str | None:
        state.restarts += 1
        new = submit(agent, plugins, name, resume=True, runtime=runtime, previous=state)
        return new.job_id

    return again


class JobBook:
    """The placements' jobs, asked once per placement for every job it is given (a fleet's
    status is one ``squeue``), or one at a time for what was not given."""

    GONE: Any = "gone"  # the placement no longer knows the job: it ended long ago

    def __init__(self, plugins: Any = None) -> None:
        self._plugins = plugins
        self._answers: dict[tuple[str, str], Job | str | None] = {}

    @property
    def plugins(self) -> Any:
        if self._plugins is None:
            from sac.plugins import get_plugins

            self._plugins = get_plugins()
        return self._plugins

    def ask(self, wanted: Iterable[tuple[str, str]]) -> None:
        """Ask each placement once about these (placement, job id) pairs."""
        by_placement: dict[str, list[str]] = {}
        for placement, job_id in wanted:
            if (placement, job_id) not in self._answers:
                by_placement.setdefault(placement, []).append(job_id)
        for placement, ids in by_placement.items():
            try:
                found: dict[str, Job] | None = get_placement(self.plugins, placement).jobs(ids)
            except Exception:  # noqa: BLE001 - the placement cannot answer now: unknown, not gone
                found = None
            for job_id in ids:
                self._answers[(placement, job_id)] = None if found is None else found.get(job_id, self.GONE)

    def get(self, placement: str, job_id: str) -> Job | str | None:
        """The job, :attr:`GONE`, or None when the placement could not say."""
        if (placement, job_id) not in self._answers:
            self.ask([(placement, job_id)])
        return self._answers[(placement, job_id)]


def placed_elsewhere(st: AgentState) -> bool:
    """A placement (not ``local``) runs this agent's runner on another host."""
    return bool(st.placement) and st.placement != LOCAL and st.elsewhere()


def wanted_jobs(states: Iterable[AgentState | None]) -> list[tuple[str, str]]:
    return [
        (s.placement, s.job_id) for s in states if s is not None and s.placement and s.job_id and placed_elsewhere(s)
    ]


def cancel(st: AgentState, plugins: Any = None) -> None:
    if st.placement and st.job_id:
        from sac.plugins import get_plugins

        get_placement(plugins or get_plugins(), st.placement).cancel(st.job_id)


def in_a_job() -> str | None:
    """The placement that runs this process, from its environment (None: none)."""
    return os.environ.get(PLACEMENT_ENV) or None
