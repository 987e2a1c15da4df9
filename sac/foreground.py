"""``sac agents start A B ... --foreground``: several agents in this terminal, as upstream's
users know it. Each agent's runner is a child process spawned the way every start spawns one
(:func:`sac.lifecycle.spawn_runner`, so it also writes its usual ``runner.log``); this process
prints each runner's lines as they come, prefixed with the agent's name, until every runner
has ended. Ctrl-C (or SIGTERM, SIGHUP: a closed terminal) stops them all, each with the stop
every runner does on SIGTERM, SIGKILL for any still there after ``KILL_AFTER`` seconds.
One agent with ``--foreground`` runs in this very process (:func:`sac.lifecycle.run_here`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sac.errors import SacError

POLL = 0.1  # seconds between reads of the runners' logs


class _Log:
    """New whole lines of one runner's log, from where it ended before this start."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.partial = path, (path.stat().st_size if path.exists() else 0), b""

    def lines(self, final: bool = False) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *whole, self.partial = (self.partial + data).split(b"\n")
        if final and self.partial:
            whole, self.partial = [*whole, self.partial], b""
        return [w.decode(errors="replace") for w in whole]


@contextlib.contextmanager
def _interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the wait as Ctrl-C does, so the runners are stopped, not orphaned."""

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_several(
    agents: list[Any],
    plugins: Any,
    settings: Any,
    *,
    resume: bool,
    parent: str | None,
    runtime: str | None,
    echo: Callable[[str], None],
) -> int:
    """Run ``agents`` (loaded Agents) in the foreground, their output prefixed; the exit
    status: 0 when every runner ended with 0, else the highest runner's status. Nothing is
    spawned unless every agent can start (none runs already, every preflight passes)."""
    from sac import lifecycle
    from sac.state import AgentDir, Phase

    resumes = {}
    for agent in agents:
        st = lifecycle.status(agent.name)
        if not st.state.can_start:
            raise SacError(
                f"agent {agent.name} is already running (pid {st.pid}): --foreground runs agents in this "
                "terminal and cannot take over a running one",
                hint=f"stop it first (`sac agents stop {agent.name}`), or follow it: `sac agents tail {agent.name} -f`",
            )
        lifecycle.preflight_or_raise(agent, plugins, settings, runtime)
        resumes[agent.name] = resume or st.state == Phase.DEAD
    width = max(len(a.name) for a in agents)
    procs: dict[str, subprocess.Popen] = {}
    logs: dict[str, _Log] = {}

    def say(line: str) -> None:
        with contextlib.suppress(OSError):  # a closed pipe or terminal must not keep runners alive
            echo(line)

    def pump(final: bool = False) -> None:
        for name, log in list(logs.items()):
            for line in log.lines(final):
                say(f"{name:<{width}} | {line}")

    stopped = False
    with _interrupts_as_keyboard_interrupt():
        try:
            for agent in agents:
                d = AgentDir(agent.name)
                d.make()
                logs[agent.name] = _Log(d.path("runner.log"))
                proc = lifecycle.spawn_runner(
                    agent.name,
                    agent.spec_path,
                    resume=resumes[agent.name],
                    parent=parent,
                    runtime=runtime,
                    may_fork=False,  # our children: signalled and waited for here
                )
                assert isinstance(proc, subprocess.Popen)
                procs[agent.name] = proc
            while any(p.poll() is None for p in procs.values()):
                pump()
                time.sleep(POLL)
        except KeyboardInterrupt:
            say(f"stopping {', '.join(procs)} ...")
            _stop_all(procs, pump)
            stopped = True
        finally:  # whatever ended the wait (an error too), no runner outlives this command
            if not stopped and any(p.poll() is None for p in procs.values()):
                _stop_all(procs, pump)
    pump(final=True)
    codes = [p.returncode for p in procs.values()]
    return max(codes, default=0) if all(c is not None and c >= 0 for c in codes) else 1


def _stop_all(procs: dict[str, subprocess.Popen], pump: Callable[[], None]) -> None:
    """SIGTERM to every runner (each stops its session and instance), SIGKILL to the process
    group of any still there after KILL_AFTER seconds; Ctrl-C again while waiting is ignored:
    the runners are stopped either way."""
    from sac.lifecycle import KILL_AFTER

    # nothing interrupts the stopping itself (a second Ctrl-C, a closed terminal's SIGHUP)
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + KILL_AFTER
        while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
            pump()
            time.sleep(POLL)
        for p in procs.values():
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)  # spawned in a session of its own: its CLI too
                p.wait()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
