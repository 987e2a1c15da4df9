"""sac from Python: what the CLI does, as functions that return msgspec Structs or dicts
and raise :class:`sac.errors.SacError` (with ``.message`` and ``.hint``) on failure.

    from sac import api
    api.start("hello-agent-1")                      # returns when ready
    api.send("hello-agent-1", "What is 2+2?")["text"]
    api.status()                                    # the fleet
    api.stop("hello-agent-1")
"""

from __future__ import annotations

from typing import Any

from sac.errors import SacError


def _context():
    from sac.config import load_settings
    from sac.plugins import get_plugins

    return get_plugins(), load_settings()


def check(ref: str, *, runtime: str | None = None):
    """The preflight report of one agent (name, folder or spec file)."""
    from sac.preflight import preflight

    plugins, settings = _context()
    return preflight(ref, plugins, settings, runtime)


def start(ref: str, *, runtime: str | None = None, timeout: float = 180.0, resume: bool = False, on: str | None = None):
    """Start an agent (a detached runner, or on a placement: ``on="slurm"``); its Status once
    ready (or still queued). A running agent is left as is."""
    from sac import lifecycle

    plugins, settings = _context()
    st = lifecycle.start(ref, plugins, settings, timeout=timeout, resume=resume, runtime=runtime, on=on).status
    if st.state == lifecycle.Phase.FAILED:
        raise SacError(f"agent {st.name} failed: {st.last_error}")
    return st


def start_many(
    refs: list[str],
    *,
    runtime: str | None = None,
    timeout: float = 180.0,
    jobs: int | None = None,
    on: str | None = None,
) -> dict[str, Any]:
    """Start several agents at once, ``jobs`` at a time (default: sac.concurrently.default_jobs).
    Every spec is read first (a bad one raises, nothing starts); then, by name, each agent's
    Status or the SacError its start ended with (a failed agent included, as :func:`start`
    raises it): one failure never stops the others. An interrupt (KeyboardInterrupt) ends the
    starts not begun and is raised."""
    import threading

    from sac import lifecycle
    from sac.concurrently import Cancelled, each

    plugins, settings = _context()
    agents = lifecycle.to_start(refs, plugins, settings)
    cancel = threading.Event()
    out: dict[str, Any] = {}

    def check(step: str, elapsed: float) -> None:  # each step of each start: stop if told to
        if cancel.is_set():
            raise Cancelled()

    def start_one(agent) -> Any:
        st = lifecycle.start(agent, plugins, settings, timeout=timeout, runtime=runtime, progress=check, on=on).status
        if st.state == lifecycle.Phase.FAILED:
            raise SacError(f"agent {st.name} failed: {st.last_error}")
        return st

    with lifecycle.runner_template(enabled=len(agents) > 1 and on in (None, "local")):
        try:
            for o in each(agents, start_one, jobs=jobs, cancel=cancel):
                name = o.item if isinstance(o.item, str) else o.item.name
                e = o.error
                if e is not None and not isinstance(e, SacError):  # a bug or the OS: said, not raised
                    e = SacError(f"agent {name}: {type(e).__name__}: {e}")
                out[name] = e if e is not None else o.result
        except BaseException:
            cancel.set()  # before the template ends: nothing spawns after this
            raise
    return out


def stop(name: str) -> str:
    """Stop an agent; what happened, in words."""
    from sac import lifecycle

    return lifecycle.stop_and_clean(name, lambda: _context()[0])


def status(name: str | None = None):
    """One agent's Status, or the fleet's (a list)."""
    from sac import lifecycle
    from sac.config import load_settings
    from sac.lookup import discover

    if name:
        return lifecycle.status(name)
    specs = dict(discover(load_settings()))
    return [lifecycle.status(n, str(specs[n]) if n in specs else None) for n in lifecycle.known_agents(specs)]


def send(name: str, text: str, *, timeout: float | None = None) -> dict[str, Any]:
    """One turn; the answer (``ok``, ``text``, ``session_id``, ``cost_usd``, ...). A failed turn
    raises SacError."""
    from sac.runner import control
    from sac.state import AgentDir

    request = control.Send(text=text, timeout=timeout or None, source="api")
    try:
        answer = control.call(AgentDir(name).socket, request, timeout=None)
    except control.NotRunning:
        raise SacError(f"agent {name} is not running", hint=f"start it: sac.api.start({name!r})") from None
    if not answer.get("ok"):
        raise SacError(f"{name}: {answer.get('error')}")
    return answer


def tail(name: str, n: int = 50) -> list[dict[str, Any]]:
    """The last ``n`` transcript events (0: all), as JSON-ready dicts."""
    import msgspec

    from sac.state import AgentDir
    from sac.transcript import read_events

    events, _ = read_events(AgentDir(name).transcript, 0)
    return msgspec.to_builtins(events[-n:] if n else events)
