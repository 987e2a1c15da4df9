"""Starting, stopping and inspecting agents: the logic behind ``sac agents ...``.

Every start comes through :func:`start` (detached) or :func:`run_here` (``--foreground``),
and every decision about it is made here: the host's control plane starts agents asked
for from inside a container, a running agent is left alone, the preflight runs, a runner
that died resumes its session. A started agent is a detached runner process (the runner's
own entry point, ``python -m sac.runner SPEC``, in its own session). Everything here talks
to runners through their state files and control sockets, so the CLI, the Python API and
the control plane share it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from sac.errors import NotFound, SacError
from sac.paths import sac_home
from sac.relaunch import RUNNER_COMMAND, self_command
from sac.state import AgentDir, AgentState, Phase
from sac_hookspecs import Usage

if TYPE_CHECKING:
    from sac.placing import JobBook
    from sac.runner.forkserver import Forked, Template
    from sac_hookspecs import Agent

KILL_AFTER = 5.0  # seconds between asking a runner to stop and SIGKILL
UNRESPONSIVE_AFTER = 30.0  # seconds: a live runner whose heartbeat is older is unresponsive


class Status(Usage, kw_only=True):
    """One row of ``sac agents status``: what the files say, checked against the process table."""

    name: str
    state: Phase
    runtime: str | None = None
    isolation: str | None = None
    pid: int | None = None
    uptime_s: float | None = None
    restarts: int = 0
    turns: int = 0
    session_id: str | None = None
    last_error: str | None = None
    spec: str | None = None
    parent: str | None = None
    urls: dict[str, str] = msgspec.field(default_factory=dict)  # transport -> URL, while it runs
    token_files: dict[str, str] = msgspec.field(default_factory=dict)  # transport -> its token's 0600 file
    runtime_mode: str | None = None  # how the runtime runs it, when it says (Instance.mode)
    startup_errors: list[str] = msgspec.field(default_factory=list)  # startup prompts that failed, this run
    placement: str | None = None  # where its runner was placed, when not by a local start (slurm)
    job_id: str | None = None  # its placement's job
    job_state: str | None = None  # the placement's word for the job (RUNNING, PENDING, ...), when asked
    host: str | None = None  # the host its runner runs on, when it lives


def status(name: str, spec: str | None = None, jobs: JobBook | None = None) -> Status:
    """The truthful status of one agent. Cheap: no plugins, no spec parsing (but for an agent
    a placement runs elsewhere: its placement is asked about its job, through ``jobs``)."""
    return read_status(AgentDir(name), spec, jobs).status


class Reading(NamedTuple):
    """:func:`status`'s answer and what time alone changes in it, for whoever keeps the answer
    to serve it again (the control plane: sac/listen/status_cache.py): the uptime is ``now -
    started_at`` while the runner lives, and a live runner's fresh heartbeat turns stale at
    ``stale_at`` (the agent is unresponsive from then on, though no file changed)."""

    status: Status
    started_at: float | None = None  # the runner's start (time.time()), while it lives
    stale_at: float | None = None  # when the heartbeat judged fresh here turns stale


def read_status(d: AgentDir, spec: str | None = None, jobs: JobBook | None = None) -> Reading:
    """:func:`status` of the agent whose runtime dir is ``d``, as a :class:`Reading`."""
    name = d.name
    st = d.read_state()
    if st is not None and st.placement and (st.elsewhere() or st.state == Phase.QUEUED):
        from sac.placing import placed_elsewhere

        if placed_elsewhere(st) or st.state == Phase.QUEUED:
            return _read_placed(d, st, spec, jobs)
    if st is None:
        holder = d.lock_holder()
        if holder:  # a runner lives, but its state.json is unreadable (review D7)
            why = "state.json is unreadable" if d.state_unreadable() else "state.json is missing"
            return Reading(
                Status(
                    name=name,
                    state=Phase.UNKNOWN,
                    pid=holder[0],
                    spec=spec,
                    last_error=f"{why}; its runner (pid {holder[0]}) still holds the agent's lock",
                )
            )
        return Reading(Status(name=name, state=Phase.NEVER_STARTED, spec=spec))
    phase = st.state
    alive = d.runner_alive(st)
    stale_at = None
    if phase.is_live and not alive:
        phase = Phase.DEAD  # why now, not an older error of the run (review D26)
        earlier = f" (earlier: {st.last_error})" if st.last_error else ""
        st.last_error = f"the runner (pid {st.pid}) is gone without stopping its agent{earlier}"
    elif alive and phase.is_live:
        beat = d.read_heartbeat()
        if beat and beat.state == Phase.BUSY and phase == Phase.READY:
            phase = Phase.BUSY
        if beat and time.time() - beat.time > UNRESPONSIVE_AFTER:
            phase = Phase.UNRESPONSIVE
        else:
            stale_at = beat.time + UNRESPONSIVE_AFTER if beat else None
            if phase.takes_turns and not _cli_alive(d):
                # nothing restarts it when health checks are off: say so instead of "ready" (D26)
                phase = Phase.UNHEALTHY
                st.last_error = "its claude CLI has exited (health checks notice this unless spec.health is off)"
    answer = Status(
        name=name,
        state=phase,
        placement=st.placement,
        job_id=st.job_id,
        host=st.host if alive else None,
        runtime=st.runtime,
        isolation=st.isolation,
        pid=st.pid if alive else None,
        uptime_s=time.time() - st.started_at if alive else None,
        restarts=st.restarts,
        turns=st.turns,
        **msgspec.structs.asdict(st.usage()),
        session_id=st.session_id,
        last_error=st.last_error,
        spec=spec or st.spec_path,
        parent=st.parent,
        urls=st.urls if alive else {},
        token_files=st.token_files if alive else {},
        runtime_mode=(st.instance.mode or None) if st.instance and alive else None,
        startup_errors=list(st.startup_errors),
    )
    return Reading(answer, st.started_at if alive else None, stale_at)


def _read_placed(d: AgentDir, st: AgentState, spec: str | None, jobs: JobBook | None) -> Reading:
    """:func:`read_status` of an agent whose runner a placement runs on another host: its
    process is not in this host's table; its heartbeat (on the shared filesystem) says
    whether it runs, and its placement what became of its job."""
    from sac.placing import JobBook

    job = (jobs or JobBook()).get(st.placement or "", st.job_id) if st.job_id else None
    beat = d.read_heartbeat()
    age = d.beat_age(beat) if beat is not None else None  # by the shared filesystem's clock: nodes' may differ
    fresh = beat is not None and age is not None and beat.pid == st.pid and age <= UNRESPONSIVE_AFTER
    phase, error = st.state, st.last_error
    job_state = getattr(job, "state", None) if job is not JobBook.GONE else "gone"
    ended = job is JobBook.GONE or (job is not None and not getattr(job, "live", True))
    said = f"its {st.placement} job {st.job_id}"
    reason = getattr(job, "reason", "")
    why = (
        f"{said} is no longer known to {st.placement} (it ended)"
        if job is JobBook.GONE
        else f"{said} ended: {job_state}" + (f" ({reason})" if reason else "")
    )
    if phase == Phase.QUEUED:
        if ended:
            phase, error = Phase.DEAD, f"{why}, before its runner ran" + (f" (earlier: {error})" if error else "")
        elif job is not None and getattr(job, "running", False):
            phase = Phase.STARTING  # the job runs; its runner has not written its state yet
    elif phase.is_live:
        if ended and not (job is JobBook.GONE and fresh):  # a runner that beats now outweighs a job not found
            phase, error = Phase.DEAD, why + (f" (earlier: {error})" if error else "")
        elif job is not None and job is not JobBook.GONE and not getattr(job, "running", False):
            phase = Phase.QUEUED  # requeued (by Slurm, for a node failure), its runner not yet back
        elif fresh:
            if beat and beat.state == Phase.BUSY and phase == Phase.READY:
                phase = Phase.BUSY
        elif job is not None:
            phase = Phase.UNRESPONSIVE  # the job runs, but its runner does not beat
        else:
            phase, error = Phase.DEAD, f"its runner on {st.host} stopped beating and {st.placement} cannot say why"
    alive = phase.is_live and fresh
    answer = Status(
        name=d.name,
        state=phase,
        runtime=st.runtime or None,
        isolation=st.isolation,
        uptime_s=time.time() - st.started_at if alive else None,
        restarts=st.restarts,
        turns=st.turns,
        **msgspec.structs.asdict(st.usage()),
        session_id=st.session_id,
        last_error=error,
        spec=spec or st.spec_path,
        parent=st.parent,
        urls=st.urls if alive else {},
        token_files=st.token_files if alive else {},
        runtime_mode=(st.instance.mode or None) if st.instance and alive else None,
        startup_errors=list(st.startup_errors),
        placement=st.placement,
        job_id=st.job_id,
        job_state=job_state,
        host=(st.host or getattr(job, "node", None) or None) if phase != Phase.DEAD else None,
    )
    stale_at = time.time() + UNRESPONSIVE_AFTER - age if alive and age is not None else None
    return Reading(answer, st.started_at if alive else None, stale_at)


def _cli_alive(d: AgentDir) -> bool:
    """Is the CLI the wrapper last recorded still running? (True when nothing is recorded.)"""
    from sac.state import process_start

    pid = d.cli_pid()
    return pid is None or process_start(pid) is not None


def known_agents(specs: dict[str, Path]) -> list[str]:
    """Agents with a spec on the search path or a runtime dir (a deleted spec may still run)."""
    from sac.names import is_valid_name

    root = sac_home() / "runtime"
    names = set(specs)
    if root.is_dir():
        names |= {p.name for p in root.iterdir() if (p / "state.json").is_file() and is_valid_name(p.name)}
    return sorted(names)


#: The hidden first argument that makes sac run the pre-imported runner template instead
#: (sac.runner.forkserver).
FORKSERVER_COMMAND = "_forkserver"

_template: Template | None = None  # while runner_template() runs


@contextmanager
def runner_template(enabled: bool = True) -> Iterator[Template | None]:
    """While this block runs, :func:`spawn_runner` forks runners from one pre-imported
    template (sac.runner.forkserver) instead of spawning each from scratch: a fleet start
    pays the runner's imports once. Where the template cannot start (or SAC_FORKSERVER=0),
    runners are spawned the plain way; the template ends with the block, its runners live on."""
    global _template
    if not enabled or _template is not None or os.environ.get("SAC_FORKSERVER") == "0":
        yield None
        return
    from sac.runner.forkserver import Template

    try:
        template = Template([*self_command(), FORKSERVER_COMMAND])
    except OSError:
        yield None
        return
    _template = template
    try:
        yield template
    finally:
        _template = None
        template.close()


def spawn_runner(
    name: str,
    spec_path: Path,
    *,
    resume: bool,
    parent: str | None = None,
    runtime: str | None = None,
    may_fork: bool = True,
) -> subprocess.Popen | Forked:
    """Start ``name``'s detached runner: forked from the template while :func:`runner_template`
    runs (unless ``may_fork`` is false: a caller that signals and waits for its children),
    else spawned; what it returns has ``pid`` and ``poll()``."""
    d = AgentDir(name)
    d.make()
    argv = [str(spec_path)]
    if runtime:
        argv += ["--runtime", runtime]
    if resume:
        argv.append("--resume")
    if parent:
        argv += ["--parent", parent]
    if _template is not None and may_fork:
        try:
            return _template.spawn(argv, d.path("runner.log"))
        except OSError:  # the template is gone: this one the plain way
            pass
    cmd = [*self_command(), RUNNER_COMMAND, *argv]
    from sac.nofollow import open_append

    log = os.fdopen(open_append(d.path("runner.log")), "ab")
    try:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=os.getcwd(),
        )
    finally:
        log.close()


#: Told what a start is doing: (the step, seconds since the start began), every poll.
Progress = Callable[[str, float], None]


def wait_ready(name: str, proc: subprocess.Popen | Forked, timeout: float, progress: Progress | None = None) -> Status:
    """Wait until the runner reports ready or failed, or exits."""
    from sac.runner.runner import ALREADY_RUNNING

    d = AgentDir(name)
    began = time.monotonic()
    deadline = began + timeout
    while time.monotonic() < deadline:
        st = d.read_state()
        code = proc.poll()
        mine = st if st is not None and st.pid == proc.pid else None  # not an older run's file
        if mine is not None and mine.state.is_settled:
            return status(name)
        if progress is not None:
            progress((mine.step if mine else None) or "starting its runner", time.monotonic() - began)
        if code == ALREADY_RUNNING:
            return _wait_other(name, deadline, progress)
        if code is not None:
            st = d.read_state()
            why = st.last_error if st and st.pid == proc.pid and st.last_error else f"the runner exited with {code}"
            raise SacError(f"agent {name} failed to start: {why}", hint=f"see {d.path('runner.log')}")
        time.sleep(0.05)
    raise SacError(
        f"agent {name} did not become ready within {timeout:g} s",
        hint=f"it may still be starting: `sac agents status {name}`; log: {d.path('runner.log')}",
    )


def _wait_other(name: str, deadline: float, progress: Progress | None = None) -> Status:
    """Another start won the lock: wait for that runner instead."""
    began = time.monotonic()
    while time.monotonic() < deadline:
        s = status(name)
        if s.state not in (Phase.STARTING, Phase.NEVER_STARTED, Phase.STOPPED):
            return s
        if progress is not None:
            progress("waiting for the start that came first", time.monotonic() - began)
        time.sleep(0.05)
    return status(name)


def stop(name: str, *, kill_after: float = KILL_AFTER) -> str:
    """Stop a running agent; returns what happened, in words."""
    from sac.runner import control

    d = AgentDir(name)
    st = d.read_state()
    holder = d.lock_holder() if st is None else None
    if holder:  # state.json unreadable, but the lock names the live runner: stop that one
        st = AgentState(name=name, state=Phase.READY, pid=holder[0], pid_start=holder[1], spec_path="", runtime="")
    if st is None:
        if not d.root.exists():
            raise NotFound(
                f"agent {name!r} has never been started here (no {d.root})",
                hint="`sac agents status` lists the agents sac knows",
            )
        return "not running"
    from sac.placing import placed_elsewhere

    if placed_elsewhere(st) or (st.placement and st.state == Phase.QUEUED):
        return _stop_placed(d, st, kill_after)
    if not d.runner_alive(st):
        return "not running" if st.state.is_over else f"not running (its runner, pid {st.pid}, was gone)"
    # one deadline for the whole polite part: a runner that neither answers its socket nor
    # SIGTERM (hung, stopped) is killed after `kill_after` seconds, not after two waits
    deadline = time.monotonic() + kill_after
    try:
        control.call(d.socket, control.Stop(), timeout=kill_after)
    except (SacError, OSError, ValueError):
        try:
            os.kill(st.pid, signal.SIGTERM)
        except ProcessLookupError:
            return "stopped"
    if _wait_gone(d, st, max(deadline - time.monotonic(), 0.2)):
        return "stopped"
    try:  # a detached runner leads its own process group: take its CLI along
        if os.getpgid(st.pid) == st.pid:
            os.killpg(st.pid, signal.SIGKILL)
        else:
            os.kill(st.pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    _wait_gone(d, st, 2.0)
    return f"killed (it did not stop within {kill_after:g} s)"


def _stop_placed(d: AgentDir, st: AgentState, kill_after: float) -> str:
    """Stop an agent whose runner a placement runs elsewhere: ask it over its TCP control
    endpoint, as a local one; a job still queued, or a runner that does not stop in time,
    is cancelled through the placement (``scancel``). STOP_REQUESTED tells the runner that
    the SIGTERM a cancel brings is its owner's: nothing to recover from."""
    from sac import placing
    from sac.runner import control
    from sac.runner.runner import STOP_REQUESTED
    from sac_hookspecs.toolkit.files import write_atomic

    write_atomic(d.path(STOP_REQUESTED), b"", mode=0o600)
    said = f"{st.placement} job {st.job_id}"
    if st.state == Phase.QUEUED or not d.runner_alive(st):
        job = placing.JobBook().get(st.placement or "", st.job_id) if st.job_id else None
        if job is placing.JobBook.GONE or (job is not None and not getattr(job, "live", False)):
            if st.state.is_live or st.state == Phase.QUEUED:
                st.state, st.control_url = Phase.STOPPED, None
                d.write_state(st)
            return "not running"
        placing.cancel(st)
        st.state, st.control_url = Phase.STOPPED, None
        d.write_state(st)
        return f"stopped (cancelled its {said})"
    deadline = time.monotonic() + kill_after
    try:
        control.call(d.socket, control.Stop(), timeout=kill_after)
    except (SacError, OSError, ValueError):
        pass
    while time.monotonic() < deadline:
        now = d.read_state()
        if now is None or now.state.is_over or not d.runner_alive(now):
            return "stopped"
        time.sleep(0.1)
    placing.cancel(st)
    now = d.read_state()
    if now is not None and not now.state.is_over:
        now.state, now.control_url = Phase.STOPPED, None
        now.last_error = f"it did not stop within {kill_after:g} s: its {said} was cancelled"
        d.write_state(now)
    return f"cancelled its {said} (it did not stop within {kill_after:g} s)"


def _wait_gone(d: AgentDir, st: AgentState, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not d.runner_alive(st):
            return True
        time.sleep(0.05)
    return not d.runner_alive(st)


def delete_runtime(name: str) -> None:
    d = AgentDir(name)
    if d.root.exists():
        shutil.rmtree(d.root)
    from sac.controlplane import revoke_broker_token

    revoke_broker_token(name)


def preflight_or_raise(agent, plugins, settings, runtime: str | None = None) -> None:
    """Run the preflight before spawning anything; a failure says what and how to fix it."""
    from sac.preflight import preflight

    report = preflight(str(agent.spec_path), plugins, settings, runtime)
    failed = [c for c in report.checks if not c.ok]
    if failed:
        lines = [f"{c.name}: {c.detail}" + (f"\n    fix: {c.fix}" if c.fix else "") for c in failed]
        raise SacError(f"agent {agent.name} cannot start:\n  " + "\n  ".join(lines))


class Started(msgspec.Struct, kw_only=True):
    """What a start did: the agent's status, and how it got there."""

    status: Status
    already_running: bool = False
    by_host: bool = False  # the host's control plane started it (this process runs in a container)


def start(
    agent: Agent | str,
    plugins,
    settings,
    *,
    timeout: float,
    resume: bool = False,
    parent: str | None = None,
    runtime: str | None = None,
    progress: Progress | None = None,
    on: str | None = None,
    keep_placement: bool = False,
) -> Started:
    """Start ``agent`` (an Agent, or a name or path) unless it runs, and return once it is
    ready or has failed. Inside one of a runtime's containers no nested start is tried: the
    host's ``sac listen`` starts it (the broker). Otherwise the preflight runs, its runner is
    spawned, and a runner that died (kill -9, OOM) is resumed with its conversation, as every
    restart is; only a stopped agent follows spec.claude.session. ``on`` names a placement
    (``--on slurm``): then the runner is submitted there (:mod:`sac.placing`); with
    ``keep_placement`` (a restart) and no ``on``, where it last ran. The CLI, the
    Python API and the control plane's start route all start agents through here."""
    if in_container(plugins):
        return _start_by_host(agent if isinstance(agent, str) else agent.name, timeout)
    if isinstance(agent, str):
        from sac.agent import load_agent

        agent = load_agent(agent, plugins, settings)
    from sac import placing

    before = AgentDir(agent.name).read_state() if keep_placement and on is None else None
    where = placing.placement_name(agent, on or (before.placement if before is not None else None))
    if where != placing.LOCAL:
        return _start_placed(
            agent, plugins, settings, where, timeout=timeout, resume=resume, runtime=runtime, progress=progress
        )
    current = status(agent.name)
    if not current.state.can_start:
        return Started(status=current, already_running=True)
    if progress is not None:
        progress("preflight", 0.0)
    preflight_or_raise(agent, plugins, settings, runtime)
    if progress is not None:  # (a fleet start interrupted meanwhile ends this one here, unspawned)
        progress("starting its runner", 0.0)
    resume = resume or current.state == Phase.DEAD
    proc = spawn_runner(agent.name, agent.spec_path, resume=resume, parent=parent, runtime=runtime)
    return Started(status=wait_ready(agent.name, proc, timeout, progress))


def _start_placed(
    agent: Agent, plugins, settings, where: str, *, timeout: float, resume: bool, runtime: str | None, progress
) -> Started:
    """Submit ``agent``'s runner to placement ``where`` unless a job of it is queued or runs,
    then wait for it to be ready. Submitters on this host take turns (a lock in the agent's
    runtime dir): two starts at once see one job; the placement keeps it one across hosts."""
    import fcntl

    from sac import placing

    placement = placing.get_placement(plugins, where)
    d = AgentDir(agent.name)
    d.make()
    fd = os.open(d.path("submit.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        current = status(agent.name)
        if not current.state.can_start:
            return Started(status=current, already_running=True)
        if progress is not None:
            progress("preflight", 0.0)
        preflight_or_raise(agent, plugins, settings, runtime)
        for check in placement.check(agent, placing.settings_for(agent, placement)):
            if not check.ok:
                raise SacError(
                    f"agent {agent.name} cannot be placed on {where}: {check.name}: {check.detail}",
                    hint=check.fix,
                )
        if progress is not None:
            progress(f"submitting to {where}", 0.0)
        resume = resume or current.state == Phase.DEAD
        previous = d.read_state()
        state = placing.submit(agent, plugins, where, resume=resume, runtime=runtime, previous=previous)
    finally:
        os.close(fd)
    return Started(status=wait_placed(agent.name, state.job_id, timeout, progress))


def wait_placed(name: str, job_id: str | None, timeout: float, progress: Progress | None = None) -> Status:
    """Wait until a placed runner reports ready or failed, or its job ends. A job still queued
    when ``timeout`` runs out is not a failure: the queue decides when it runs."""
    from sac.placing import JobBook

    d = AgentDir(name)
    began = time.monotonic()
    deadline = began + timeout
    asked = 0.0
    s = status(name)
    while time.monotonic() < deadline:
        st = d.read_state()
        mine = st if st is not None and st.job_id == job_id else None
        if mine is not None and mine.state.is_settled:
            return status(name)
        if time.monotonic() - asked >= 2.0:  # the placement's state of the job, not every poll
            asked = time.monotonic()
            s = status(name, jobs=JobBook())
            if s.state in (Phase.DEAD, Phase.FAILED, Phase.STOPPED):
                raise SacError(
                    f"agent {name} failed to start: {s.last_error or s.state}",
                    hint=f"see {d.path('runner.log')} and the job's output",
                )
        if progress is not None:
            if mine is not None and mine.pid:
                step = f"on {mine.host}: {mine.step or 'starting'}"
            else:
                step = f"queued as job {job_id}" + (f" ({s.job_state})" if s.job_state else "")
            progress(step, time.monotonic() - began)
        time.sleep(0.1)
    s = status(name, jobs=JobBook())
    if s.state == Phase.QUEUED:
        return s  # still in the queue: `status` shows when it runs
    raise SacError(
        f"agent {name} did not become ready within {timeout:g} s",
        hint=f"it may still be starting: `sac agents status {name}`; log: {d.path('runner.log')}",
    )


def to_start(refs: Iterable[str], plugins, settings) -> list[Agent | str]:
    """What :func:`start` gets for ``refs``: every spec loaded (so all are valid before any
    starts), or the refs themselves inside a container, where the host reads the specs."""
    if in_container(plugins):
        return list(refs)
    from sac.agent import load_agent
    from sac.errors import UsageError
    from sac.spec.errors import SpecError

    agents: list[Agent | str] = []
    problems, others, bad = [], [], 0
    for ref in refs:  # every bad one said at once: a fleet of fifty is not fixed one error a run
        try:
            agents.append(load_agent(ref, plugins, settings))
        except SpecError as e:
            problems.extend(e.problems)
            bad += 1
        except SacError as e:
            others.append(e)
            bad += 1
    if problems and not others:
        raise SpecError(problems)
    if others or problems:
        errors = [*others, *([SpecError(problems)] if problems else [])]
        if len(errors) == 1:
            raise errors[0]
        kind = UsageError if all(e.exit_code == 2 for e in errors) else SacError
        raise kind(
            f"{bad} of these agents cannot start; nothing was started:\n" + "\n".join(e.render() for e in errors)
        )
    return agents


def run_here(
    agent: Agent,
    plugins,
    settings,
    *,
    resume: bool = False,
    parent: str | None = None,
    runtime: str | None = None,
    echo=print,
) -> int:
    """``--foreground``: the preflight every start runs, then the agent's runner in this
    process until it stops; its exit status."""
    from sac.runner.entry import run

    preflight_or_raise(agent, plugins, settings, runtime)
    return run(agent, plugins, settings, resume=resume, parent=parent, runtime=runtime, echo=echo)


def stop_and_clean(name: str, plugins_factory) -> str:
    """Stop the agent; if its runner died and left an instance behind, remove that too."""
    what = stop(name)
    st = AgentDir(name).read_state()
    if st is not None and st.instance is not None and not AgentDir(name).runner_alive(st):
        plugins = plugins_factory()
        runtime = plugins.runtimes.get(st.instance.runtime)
        from sac.agent import load_agent
        from sac.config import load_settings
        from sac_hookspecs import Agent

        try:
            agent = load_agent(st.spec_path, plugins, load_settings())
        except SacError:
            agent = Agent(
                name=name,
                document=plugins.spec_type(apiVersion="scitex-agent-container/v3", kind="Agent"),
                spec_path=Path(st.spec_path),
                runtime_dir=AgentDir(name).root,
            )
        runtime.stop(agent, st.instance, 1.0)
        st.instance = None
        st.state = Phase.STOPPED if st.state != Phase.FAILED else Phase.FAILED
        AgentDir(name).write_state(st)
        what += "; removed its leftover instance"
    return what


def in_container(plugins) -> bool:
    """Whether a runtime says this process runs in one of its containers: then no nested start
    is tried, the host's control plane starts sibling agents (the broker)."""
    return any(rt.hosts_this_process() for _, rt in plugins.runtimes.items())


def _start_by_host(ref: str, timeout: float) -> Started:
    """Ask the host's ``sac listen`` to start ``ref`` (this process runs in a container)."""
    from sac.controlplane import post_json

    url, token = os.environ.get("SAC_LISTEN_BASE_URL"), os.environ.get("SAC_LISTEN_BEARER")
    if not url or not token:
        raise SacError(
            f"inside a container, {ref} must be started by the host, but no broker is reachable "
            "(SAC_LISTEN_BASE_URL and SAC_LISTEN_BEARER are not set)",
            hint="run `sac listen` on the host and restart this agent, or start it on the host",
        )
    parent = os.environ.get("SAC_AGENT_NAME")
    from urllib.parse import quote

    answer = post_json(f"{url.rstrip('/')}/v1/agents/{quote(ref, safe='')}/start", {"parent": parent}, token, timeout)
    if not answer.get("ok"):
        raise SacError(f"agent {ref} could not be started by the host: {answer.get('message')}")
    try:
        st = msgspec.convert(answer.get("status") or {"name": ref, "state": "failed"}, Status)
    except msgspec.ValidationError as e:  # a host running another sac version
        raise SacError(
            f"the host started {ref}, but its answer is not one this sac reads ({e})",
            hint="run the same sac version on the host and in the agent's container",
        ) from None
    return Started(status=st, already_running=bool(answer.get("already_running")), by_host=True)
