"""This host's agents as status rows, for `sac agents status` and `sac fleet status`."""

from __future__ import annotations

import click


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else (f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s")


def status_rows(name: str | None = None) -> list:
    """Every agent sac knows here (or ``name``), each one's Status."""
    from sac import lifecycle
    from sac.config import load_settings
    from sac.lookup import discover

    settings = load_settings()
    specs = {n: p for n, p in discover(settings)}
    names = [name] if name else lifecycle.known_agents(specs)
    if not name:
        from sac.lookup import skipped

        for why in skipped(settings):
            click.echo(f"sac: warning: skipped {why}", err=True)
    if name and name not in specs and name not in lifecycle.known_agents(specs):
        from sac.errors import NotFound

        raise NotFound(
            f"no agent {name!r}: no spec on the search path and no runtime state",
            hint="`sac agents status` lists the agents sac knows",
        )
    from sac.placing import JobBook, wanted_jobs
    from sac.state import AgentDir

    jobs = JobBook()  # each placement asked once for the whole fleet (one squeue)
    jobs.ask(wanted_jobs(AgentDir(n).read_state() for n in names))
    return [lifecycle.status(n, str(specs[n]) if n in specs else None, jobs) for n in names]
