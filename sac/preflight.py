"""``sac agents check``: validate a spec, then ask its runtime, provider and transports."""

from __future__ import annotations

import msgspec

from sac.agent import can_start, choose_runtime, load_agent, override_note, provider_name
from sac.config import Settings
from sac.errors import SacError
from sac.plugins import Plugins
from sac.spec.errors import Problem, SpecError
from sac_hookspecs import Agent, CheckResult


class Report(msgspec.Struct, kw_only=True):
    """The preflight of one agent reference."""

    agent: str  # the reference as given (a name or a path)
    ok: bool
    spec: str | None = None  # the spec.yaml path, once found
    runtime: str | None = None
    provider: str | None = None
    checks: list[CheckResult] = msgspec.field(default_factory=list)
    problems: list[Problem] = msgspec.field(default_factory=list)  # spec problems
    error: str | None = None  # could not even find or name the agent
    exit_code: int = 0


def _safe(what: str, fn, agent: Agent) -> list[CheckResult]:
    """A plugin's check; a crash in it is a failed row, not a crashed sac."""
    try:
        return list(fn(agent))
    except SacError as e:  # a failure the plugin explains: its words and its hint, not a crash
        return [CheckResult(name=what, ok=False, detail=e.message, fix=e.hint)]
    except Exception as e:  # plugin code: report, don't propagate
        return [
            CheckResult(
                name=what,
                ok=False,
                detail=f"the check crashed: {type(e).__name__}: {e}",
                fix="report this to the plugin's authors; SAC_DEBUG=1 shows more",
            )
        ]


def host_paths(agent: Agent) -> list[CheckResult]:
    """What ``start`` needs on the host before any runtime: every mount source (all missing
    ones at once) and a workdir that exists or can be made (review D23: check said ready,
    then start failed on the first missing mount)."""
    import os
    from pathlib import Path

    from sac.runner.control import SOCKET_PATH_MAX
    from sac_hookspecs.toolkit.mounts import parse_mount

    rows = []
    missing = [m.source for m in map(parse_mount, agent.spec.mounts) if not Path(m.source).expanduser().exists()]
    if missing:
        rows.append(
            CheckResult(
                name="mounts",
                ok=False,
                detail=f"source(s) missing: {', '.join(missing)}",
                fix="create them, or fix spec.mounts",
            )
        )
    elif agent.spec.mounts:
        rows.append(CheckResult(name="mounts", ok=True, detail=f"{len(agent.spec.mounts)} source(s) present"))
    sock = agent.runtime_dir / "control.sock"
    if len(str(sock)) > SOCKET_PATH_MAX:  # the runner could not bind it: say so before start
        rows.append(
            CheckResult(
                name="runtime dir",
                ok=False,
                detail=f"the control socket path is {len(str(sock))} bytes, more than Unix sockets "
                f"allow ({SOCKET_PATH_MAX}): {sock}",
                fix="set SAC_HOME to a shorter directory",
            )
        )
    if agent.spec.workdir:
        workdir = Path(agent.spec.workdir).expanduser()
        if not workdir.is_absolute():
            workdir = agent.spec_path.parent / workdir
        existing = next((p for p in (workdir, *workdir.parents) if p.exists()), None)
        dangling = next((p for p in (workdir, *workdir.parents) if p.is_symlink() and not p.exists()), None)
        if dangling is not None:  # start's mkdir would fail "File exists" (review D23)
            rows.append(
                CheckResult(
                    name="workdir",
                    ok=False,
                    detail=f"{dangling} is a link to nothing",
                    fix=f"fix or remove the link {dangling}, or fix spec.workdir",
                )
            )
        elif workdir.exists() and not workdir.is_dir():
            rows.append(
                CheckResult(name="workdir", ok=False, detail=f"{workdir} is not a directory", fix="fix spec.workdir")
            )
        elif existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            rows.append(
                CheckResult(
                    name="workdir",
                    ok=False,
                    detail=f"{workdir} cannot be created here",
                    fix=f"create it (mkdir -p {workdir}), or fix spec.workdir",
                )
            )
    return rows


def preflight(ref: str, plugins: Plugins, settings: Settings, runtime: str | None = None) -> Report:
    """Every check a start runs, all at once; ``runtime``: the --runtime of this run."""
    try:
        agent = load_agent(ref, plugins, settings)
    except SpecError as e:
        return Report(agent=ref, ok=False, spec=e.problems[0].file, problems=e.problems, exit_code=2)
    except SacError as e:
        return Report(agent=ref, ok=False, error=e.render(), exit_code=e.exit_code)
    report = Report(agent=agent.name, ok=True, spec=str(agent.spec_path))
    checks = [CheckResult(name="spec", ok=True, detail="valid"), *host_paths(agent)]
    try:
        note = override_note(agent, runtime)
        rt = choose_runtime(agent, plugins, settings, override=runtime)
        report.runtime = rt.name
        if can_start(rt):
            detail = f"{rt.name} (isolation: {rt.isolation})" + (f"; {note}" if note else "")
            checks.append(CheckResult(name="runtime", ok=True, detail=detail))
        else:
            checks.append(
                CheckResult(
                    name="runtime",
                    ok=False,
                    detail=f"{rt.name} cannot start agents yet",
                    fix="choose another runtime (spec.runtime, or --runtime)",
                )
            )
        checks += _safe(f"runtime {rt.name}", rt.check, agent)
    except SacError as e:
        checks.append(CheckResult(name="runtime", ok=False, detail=e.message, fix=e.hint or "see `sac plugins list`"))
    report.provider = provider_name(agent.spec, settings, plugins)
    try:
        from sac.credentials import provider_context

        provider = plugins.providers.get(report.provider)
        ctx = provider_context(agent, provider, settings, plugins)
        checks += _safe(f"provider {provider.name}", lambda a: provider.check(a, ctx), agent)
    except SacError as e:
        checks.append(CheckResult(name="provider", ok=False, detail=e.message, fix=e.hint))
    for name, transport in plugins.transports.items():
        checks += _safe(f"transport {name}", transport.check, agent)
    report.checks = checks
    report.ok = all(c.ok for c in checks)
    report.exit_code = 0 if report.ok else 1
    return report
