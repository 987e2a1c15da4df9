"""``sac agents ...``: check, start, stop, restart, delete, status, health, send, tail, recall, find."""

from __future__ import annotations

import sys
import time

import click

from sac.cli import context
from sac.cli.output import echo_json, table
from sac.cli.params import SECONDS
from sac.cli.root import builtin_group
from sac.errors import SacError, UsageError


@builtin_group("agents")
def agents() -> None:
    pass


def _common_runtime_option(f):
    return click.option(
        "--runtime",
        help="Run on this runtime, whatever the spec says (this run only; default: spec.runtime, "
        "else the configured default_runtime, else the best available here).",
    )(f)


# -- check ------------------------------------------------------------------------------


@agents.command("check")
@click.argument("refs", nargs=-1, metavar="[NAME|DIR|SPEC.yaml]...")
@_common_runtime_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
def check(refs: tuple[str, ...], runtime: str | None, as_json: bool) -> None:
    """Validate specs and preflight their runtime, provider and transports.

    With no arguments, checks every agent on the search path. Exit status: 0 all
    ready, 1 a check failed, 2 a spec is invalid or an agent was not found.

    \b
    Examples:
      sac agents check
      sac agents check my-agent ./agents/other/spec.yaml
      sac agents check my-agent --json
    """
    from sac.lookup import discover
    from sac.preflight import preflight

    plugins, settings = context.plugins(), context.settings()
    if not refs:
        refs = tuple(str(path) for _, path in discover(settings))
        if not refs:
            raise click.UsageError("no agents found on the search path; name one (see `sac config show`)")
    reports = [preflight(ref, plugins, settings, runtime) for ref in refs]
    if as_json:
        echo_json(reports)
    else:
        _print_reports(reports)
    sys.exit(max(r.exit_code for r in reports))


def _print_reports(reports) -> None:
    rows = []
    for r in reports:
        if r.problems:
            click.echo("\n".join(p.render() for p in r.problems), err=True)
            rows.append((r.agent, "spec", "FAIL", f"{len(r.problems)} problem(s), listed above"))
        elif r.error:
            rows.append((r.agent, "agent", "FAIL", r.error.splitlines()[0]))
        for c in r.checks:
            rows.append((r.agent, c.name, ("warn" if c.warn else "ok") if c.ok else "FAIL", c.detail))
            if (c.warn or not c.ok) and c.fix:
                rows.append(("", "", "", f"fix: {c.fix}"))
    click.echo(table(("AGENT", "CHECK", "STATUS", "DETAIL"), rows))
    bad = [r.agent for r in reports if not r.ok]
    click.echo(
        f"\n{len(reports) - len(bad)} of {len(reports)} ready" + (f"; not ready: {', '.join(bad)}" if bad else "")
    )


# -- start / stop / restart / delete ----------------------------------------------------


def _jobs_option(f):
    from sac.concurrently import MAX_DEFAULT_JOBS

    return click.option(
        "-j",
        "--jobs",
        type=click.IntRange(min=1),
        help="How many agents at once (default: two per core, at least 4, at most "
        f"{MAX_DEFAULT_JOBS}); one agent's failure never stops the others.",
    )(f)


def _on_option(f):
    return click.option(
        "--on",
        "on",
        metavar="PLACEMENT",
        help="Where the runners run: `local` (this host), or a placement plugin's name, e.g. `slurm` "
        "(one job per agent). Default: the one placement spec.placement configures, else local.",
    )(f)


@agents.command("start")
@click.argument("refs", nargs=-1, required=True, metavar="NAME|NAME@HOST|DIR|SPEC.yaml...")
@_common_runtime_option
@_on_option
@click.option(
    "--foreground",
    is_flag=True,
    help="Run the agents in this terminal, printing what each does (prefixed with its name when several); "
    "Ctrl-C stops them all.",
)
@click.option(
    "--timeout", default=180.0, show_default=True, type=SECONDS, help="Seconds to wait for each agent to be ready."
)
@click.option("--resume", is_flag=True, help="Resume the agent's last session whatever spec.claude.session says.")
@click.option("--parent", hidden=True, help="The agent that asked for this one (recorded as lineage).")
@click.option(
    "--ignore-startup-errors",
    is_flag=True,
    help="Exit 0 even when a startup prompt failed (the agent runs either way).",
)
@_jobs_option
@click.option("--json", "as_json", is_flag=True, help="Print the agents' status as JSON.")
def start(refs, runtime, on, foreground, timeout, resume, parent, ignore_startup_errors, jobs, as_json) -> None:
    """Start agents, several at once; return when each is ready, or say why it failed.

    Every spec is read first (all problems at once, nothing started); then the agents
    start in parallel, `--jobs` at a time, each reported as it becomes ready (a live
    table on a terminal, one line per step when piped), and one agent's failure never
    stops the others. A running agent is left as it is (exit 0). Each agent runs in its own detached
    runner process; `--foreground` keeps them in this terminal instead, printing what
    each does, prefixed with its name when there are several (Ctrl-C stops them all).

    \b
    Examples:
      sac agents start my-agent
      sac agents start a b --json | jq '.[] | select(.ok | not)'
      sac agents start my-agent --foreground
      sac agents start a b c --on slurm
      sac agents start reviewer@lab
    """
    from sac import lifecycle
    from sac.agent import load_agent, override_note
    from sac.cli.remote import remote_start_options, split, start_there

    here, there = split(refs)
    if there:  # NAME@HOST: its folder goes to the host, whose sac starts it (as `sac fleet launch`)
        if foreground or parent:
            raise UsageError("--foreground and --parent are for agents of this host: NAME@HOST runs on its host")
        opts = remote_start_options(
            runtime, on, timeout, as_json, resume=resume, ignore_startup_errors=ignore_startup_errors, jobs=jobs
        )
        code = start_there(there, opts, as_json, alone=not here)
        if not here:
            sys.exit(code)
        refs = tuple(here)
    plugins, settings = context.plugins(), context.settings()
    if on is not None:
        plugins.placements.get(on)  # an unknown placement: one line naming the installed ones
    if foreground and on not in (None, "local"):
        raise UsageError(f"--foreground runs the agents here: it cannot be combined with --on {on}")
    if foreground:
        echo = lambda line: click.echo(line, err=True)  # noqa: E731
        if len(set(refs)) > 1:  # several: each runner a child of this process, its lines prefixed
            from sac.foreground import run_several

            agents = [load_agent(ref, plugins, settings) for ref in dict.fromkeys(refs)]
            if len({a.name for a in agents}) < len(agents):
                raise UsageError("--foreground: two of these name the same agent")
            for a in agents:
                if note := override_note(a, runtime):
                    echo(f"{a.name}: {note}")
            kw = {"resume": resume, "parent": parent, "runtime": runtime, "echo": echo}
            sys.exit(run_several(agents, plugins, settings, **kw))
        one = load_agent(refs[0], plugins, settings)
        if note := override_note(one, runtime):
            echo(f"{one.name}: {note}")
        code = lifecycle.run_here(one, plugins, settings, resume=resume, parent=parent, runtime=runtime, echo=echo)
        sys.exit(code)
    kw = {"timeout": timeout, "resume": resume, "parent": parent, "runtime": runtime, "on": on}
    sys.exit(_start_fleet(refs, plugins, settings, kw, ignore_startup_errors, jobs, as_json))


def _start_fleet(refs, plugins, settings, kw: dict, ignore_startup_errors: bool, jobs, as_json, not_now=None) -> int:
    """`start` and `restart` without --foreground: every agent at once, `jobs` at a time;
    its exit status. ``not_now`` (name -> SacError): agents that must not start (restart
    could not stop them), reported as failed rows with the others."""
    from sac import lifecycle
    from sac.agent import override_note
    from sac.cli.board import Board
    from sac.concurrently import each

    not_now = not_now or {}
    agents = [a for a in _unique(lifecycle.to_start(refs, plugins, settings)) if _name(a) not in not_now]
    names = [*(_name(a) for a in agents), *not_now]
    _warn_limits(len(agents))
    for agent in agents:
        if not isinstance(agent, str) and (note := override_note(agent, kw["runtime"])):
            click.echo(f"{agent.name}: {note}", err=True)
    board = Board(names, doing="starting", done="ready")

    def start_one(agent) -> lifecycle.Started:
        return lifecycle.start(agent, plugins, settings, **kw, progress=board.progress(_name(agent)))

    rows: dict[str, dict] = {}
    failed = False
    for name, error in not_now.items():
        rows[name], failed = _start_row(lifecycle.status(name), error), True
        board.finish(name, False, [f"sac: error: {error.render()}"])
    try:  # several: their runners forked from one pre-imported template (sac.runner.forkserver)
        with lifecycle.runner_template(enabled=len(agents) > 1 and kw.get("on") in (None, "local")):
            try:
                for out in each(agents, start_one, jobs=jobs, cancel=board.cancel):
                    name = _name(out.item)
                    row, lines, ok = _started(name, out.result, out.error, ignore_startup_errors)
                    rows[name], failed = row, failed or not ok
                    board.finish(name, ok, lines)
            except BaseException:  # Ctrl-C, a closed pipe: no job spawns a runner after this
                board.cancel.set()
                raise
    except KeyboardInterrupt:
        if left := board.close():
            click.echo(
                f"sac: interrupted while {', '.join(left)} were starting: those whose runner had "
                "started go on starting (see `sac agents status`); the agents not begun were not started",
                err=True,
            )
        raise
    finally:
        board.close()
    if as_json:
        echo_json([rows[n] for n in names])  # in the order asked, whatever order they came up in
    return 1 if failed else 0


def _name(agent) -> str:
    return agent if isinstance(agent, str) else agent.name


def _unique(agents: list) -> list:
    """Each agent once, however many refs name it (a name and its folder, say)."""
    seen: dict[str, object] = {}
    for a in agents:
        seen.setdefault(a if isinstance(a, str) else a.name, a)
    return list(seen.values())


def _warn_limits(n: int) -> None:
    """Say before a fleet start what this host's limits will not allow (nothing for a few)."""
    from sac.hostlimits import fleet_warnings

    for why in fleet_warnings(n):
        click.echo(f"sac: warning: {why}", err=True)


def _started(name: str, started, error: BaseException | None, ignore_startup_errors: bool) -> tuple[dict, list, bool]:
    """One agent's start as a `--json` row, the lines saying how it went, and whether it went well."""
    from sac import lifecycle
    from sac.names import is_valid_name

    if error is not None:
        if not isinstance(error, SacError):  # a bug: said as one line here, not a traceback mid-table
            error = SacError(f"agent {name}: unexpected {type(error).__name__}: {error}", hint="SAC_DEBUG=1 sac ...")
        # (inside a container a ref may be a path, not a name: a row without a status then)
        known = (
            lifecycle.status(name) if is_valid_name(name) else lifecycle.Status(name=name, state=lifecycle.Phase.FAILED)
        )
        return _start_row(known, error), [f"sac: error: {error.render()}"], False
    st, by_host = started.status, started.by_host
    failed_here = st.state == lifecycle.Phase.FAILED or bool(st.startup_errors and not ignore_startup_errors)
    row = _start_row(st, None if not failed_here else st.last_error or "its startup prompts failed")
    if st.job_id:  # placed: where, not a pid of another host
        at = f"{st.host}, " if st.host else ""
        on = f"on {st.runtime} ({at}{st.placement} job {st.job_id})"
        if st.state == lifecycle.Phase.QUEUED:
            on = f"in the {st.placement} queue (job {st.job_id}, {st.job_state or 'PENDING'}): `sac agents status` shows when it runs"
    else:
        on = f"on the host ({st.runtime}, pid {st.pid})" if by_host else f"on {st.runtime} (pid {st.pid})"
    on += "".join(f", {transport} at {url}" for transport, url in st.urls.items())
    if started.already_running:
        where = f"{st.state}, {st.placement} job {st.job_id}" if st.job_id else f"pid {st.pid}"
        return row, [f"{name}: already running{' on the host' if by_host else ''} ({where})"], True
    if st.state == lifecycle.Phase.FAILED:
        return row, [f"{name}: failed: {st.last_error}"], False
    if st.startup_errors:
        errors = "\n  ".join(st.startup_errors)
        return row, [f"{name}: {st.state} {on}, but its startup prompts failed:\n  {errors}"], not failed_here
    return row, [f"{name}: {st.state} {on}"], True


def _start_row(st, error: SacError | str | None) -> dict:
    """One agent in `start --json`: its status, whether its start went well, and if not why
    (an agent that could not start is a row too, not left out)."""
    import msgspec

    row = {**msgspec.to_builtins(st), "ok": error is None, "error": None, "hint": None}
    if isinstance(error, SacError):
        row.update(error=error.message, hint=error.hint)
    elif error:
        row["error"] = error
    return row


@agents.command("stop")
@click.argument("names", nargs=-1, required=True, metavar="NAME|NAME@HOST...")
@_jobs_option
@click.option("--json", "as_json", is_flag=True, help="Print one result per agent as JSON.")
def stop(names: tuple[str, ...], jobs: int | None, as_json: bool) -> None:
    """Stop agents, several at once: end the session, stop the container; SIGKILL after 5 s.

    \b
    Examples:
      sac agents stop my-agent
      sac agents stop a b --json
      sac agents stop worker@lab worker@hpc
    """
    from sac import lifecycle
    from sac.cli.board import Board
    from sac.cli.remote import finish, forward_groups, split
    from sac.concurrently import each

    here, there = split(dict.fromkeys(names))
    flag = ["--json"] if as_json else []
    remote = forward_groups(there, lambda ns: ["agents", "stop", *ns, *flag], as_json) if there else (0, [])
    if not here:
        finish(None, [], remote, as_json)
    names = tuple(here)
    board = Board(names, doing="stopping", done="stopped", results_to_stdout=True)
    status, results = 0, {}
    try:

        def stop_one(name: str) -> str:
            if board.tty:  # in flight now, not waiting (piped, its one line says it)
                board.progress(name)("stopping", 0.0)
            return lifecycle.stop_and_clean(name, context.plugins)

        for out in each(names, stop_one, jobs=jobs, cancel=board.cancel):
            name, e = out.item, out.error
            if e is None:
                results[name] = {"name": name, "ok": True, "result": out.result}
                board.finish(name, True, [] if as_json else [f"{name}: {out.result}"])
                continue
            if not isinstance(e, SacError):
                e = SacError(f"agent {name}: unexpected {type(e).__name__}: {e}", hint="SAC_DEBUG=1 sac ...")
            results[name] = {"name": name, "ok": False, "error": e.message, "hint": e.hint}
            board.finish(name, False, [] if as_json else [f"sac: error: {e.render()}"], message=True)
            status = max(status, e.exit_code)
    finally:
        board.close()
    finish(status, [results[n] for n in names], remote, as_json)


@agents.command("restart")
@click.argument("refs", nargs=-1, required=True, metavar="NAME|NAME@HOST|DIR|SPEC.yaml...")
@_common_runtime_option
@_on_option
@click.option(
    "--timeout", default=180.0, show_default=True, type=SECONDS, help="Seconds to wait for each agent to be ready."
)
@_jobs_option
@click.option("--json", "as_json", is_flag=True, help="Print one row per agent as JSON, as `start --json` does.")
def restart(
    refs: tuple[str, ...], runtime: str | None, on: str | None, timeout: float, jobs: int | None, as_json: bool
) -> None:
    """Stop and start agents, several at once; each resumes its Claude session, where it ran
    (a placed agent is placed again the same way) unless `--on` says otherwise.

    \b
    Examples:
      sac agents restart my-agent
      sac agents restart a b --timeout 60 --json
      sac agents restart worker@lab
    """
    from sac import lifecycle
    from sac.cli.remote import remote_start_options, split, start_there
    from sac.concurrently import each
    from sac.lookup import resolve

    here, there = split(refs)
    if there:  # each host's sac restarts its own (its folder stays as it is: `sac fleet sync --push`)
        opts = remote_start_options(runtime, on, timeout, as_json, jobs=jobs)
        code = start_there(there, opts, as_json, not here, copy=False)
        if not here:
            sys.exit(code)
        refs = tuple(here)

    plugins, settings = context.plugins(), context.settings()
    names = [resolve(ref, settings)[0] for ref in refs]
    running = [n for n in dict.fromkeys(names) if lifecycle.status(n).state != lifecycle.Phase.NEVER_STARTED]
    not_stopped: dict[str, SacError] = {}
    for out in each(running, lambda n: lifecycle.stop_and_clean(n, context.plugins), jobs=jobs):
        if out.error is not None:  # not started again: its row says why, with the others'
            e = out.error
            why, hint = (e.message, e.hint) if isinstance(e, SacError) else (f"{type(e).__name__}: {e}", "")
            not_stopped[out.item] = SacError(f"agent {out.item}: could not stop it: {why}", hint=hint)
    kw = {"timeout": timeout, "resume": True, "parent": None, "runtime": runtime, "on": on, "keep_placement": True}
    sys.exit(_start_fleet(refs, plugins, settings, kw, False, jobs, as_json, not_now=not_stopped))


@agents.command("delete")
@click.argument("names", nargs=-1, required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask.")
@click.option("--json", "as_json", is_flag=True, help="Print one result per agent as JSON: what was removed.")
def delete(names: tuple[str, ...], yes: bool, as_json: bool) -> None:
    """Stop agents and remove their spec folders and runtime dirs.

    \b
    Examples:
      sac agents delete my-agent
      sac agents delete old-a old-b -y --json
    """
    from sac import lifecycle
    from sac.lookup import is_path, resolve
    from sac.names import check_name

    settings = context.settings()
    targets = []
    for ref in names:
        try:
            name, spec = resolve(ref, settings)
            spec_dir = spec.parent
        except SacError:
            if is_path(ref):
                raise
            name, spec_dir = check_name(ref), None
            if lifecycle.status(name).state == lifecycle.Phase.NEVER_STARTED:
                raise UsageError(f"no agent {name!r}: no spec and no runtime state; nothing to delete") from None
        targets.append((name, spec_dir))
    if not yes:
        listing = "\n".join(f"  {n}: {d or '(no spec)'} and its runtime dir" for n, d in targets)
        if not sys.stdin.isatty():
            raise UsageError(f"delete needs confirmation:\n{listing}", hint="add -y")
        click.confirm(f"Delete:\n{listing}\n", abort=True)
    import shutil

    results = []
    for name, spec_dir in targets:
        try:
            if lifecycle.status(name).state != lifecycle.Phase.NEVER_STARTED:
                what = lifecycle.stop_and_clean(name, context.plugins)  # raises if it cannot stop it
                if lifecycle.status(name).state.has_runner:
                    raise SacError(f"{name}: could not stop it ({what}); nothing deleted")
        except SacError as e:  # the ones before it are gone: --json still says which
            if not as_json:
                raise
            results.append({"name": name, "ok": False, "error": e.message, "hint": e.hint})
            echo_json(results)
            sys.exit(e.exit_code)
        lifecycle.delete_runtime(name)
        if spec_dir is not None:
            if spec_dir.is_symlink():  # a linked agent folder: remove the link, never its target
                spec_dir.unlink()
            else:
                shutil.rmtree(spec_dir)
        results.append({"name": name, "ok": True, "spec_dir": None if spec_dir is None else str(spec_dir)})
        if not as_json:
            click.echo(f"{name}: deleted")
    if as_json:
        echo_json(results)


# -- status / health --------------------------------------------------------------------


@agents.command("status")
@click.argument("name", required=False, metavar="[NAME|NAME@HOST]")
@click.option("--all-hosts", is_flag=True, help="Every agent here and on every `sac host` (as `sac fleet status`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(name: str | None, all_hosts: bool, as_json: bool) -> None:
    """The fleet (or one agent): state, runtime, pid, uptime, restarts, turns, cost, URL, last error.

    \b
    Examples:
      sac agents status
      sac agents status my-agent --json
      sac agents status --all-hosts
    """
    if all_hosts:
        if name:
            raise UsageError("--all-hosts shows the whole fleet; drop NAME (or use NAME@HOST)")
        from sac.cli.fleet import show_fleet

        show_fleet((), as_json)
        return
    if name and "@" in name:
        from sac.cli.remote import forward_one

        forward_one(name, lambda n: ["agents", "status", n, *(["--json"] if as_json else [])])
    from sac.cli.local_status import ago as _ago
    from sac.cli.local_status import status_rows

    rows = status_rows(name)
    if as_json:
        echo_json(rows[0] if name else rows)
        return
    if not rows:  # a message, not a result: stdout stays empty
        click.echo("no agents yet: put one in $SAC_HOME/agents/NAME/spec.yaml (see examples/agents)", err=True)
        return
    placed = any(r.placement for r in rows)  # where each runs: shown once any agent is placed
    click.echo(
        table(
            (
                "NAME",
                "RUNTIME",
                "STATE",
                *(("WHERE", "JOB") if placed else ("PID",)),
                "UPTIME",
                "RESTARTS",
                "TURNS",
                "COST",
                "URL",
                "LAST ERROR",
            ),
            [
                (
                    r.name,
                    r.runtime or "-",
                    r.state,
                    *(
                        (
                            r.host or ("-" if r.placement else f"pid {r.pid}" if r.pid else "-"),
                            f"{r.placement} {r.job_id} {r.job_state or ''}".strip() if r.job_id else "-",
                        )
                        if placed
                        else (r.pid or "-",)
                    ),
                    _ago(r.uptime_s),
                    r.restarts,
                    r.turns,
                    f"${r.cost_usd:.4f}",
                    " ".join(r.urls.values()) or "-",  # where it answers (A2A), while it runs
                    (r.last_error or "")[:60],
                )
                for r in rows
            ],
        )
    )


agents.add_command(status, "list")


@agents.command("health")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the agent's report (and `healthy`) as JSON.")
def health(name: str, as_json: bool) -> None:
    """Ask a running agent how it is (exit 1 if it is not running or not healthy).

    \b
    Examples:
      sac agents health my-agent
      sac agents health my-agent --json
    """
    from sac.runner import control
    from sac.state import AgentDir, Phase

    try:
        report = control.call(AgentDir(name).socket, control.Health(), timeout=10)
    except control.NotRunning:
        st = _known_status(name)
        report = {"ok": False, "state": st.state, "last_error": st.last_error}
    phase = Phase.parse(report.get("state"))
    healthy = report.get("ok") and phase is not None and phase.takes_turns and report.get("cli_alive", False)
    report["healthy"] = bool(healthy)
    if as_json:
        echo_json(report)
    else:
        from sac.cli.output import human

        for k, v in report.items():
            click.echo(f"{k}: {human(v)}")
    sys.exit(0 if healthy else 1)


# -- send / tail / recall / find ---------------------------------------------------------


@agents.command("send")
@click.argument("name", metavar="NAME|NAME@HOST")
@click.argument("prompt", required=False)
@click.option("--key", type=click.Choice(["ESC"], case_sensitive=False), help="Send a key: ESC interrupts the turn.")
@click.option("--timeout", type=SECONDS, help="Seconds to wait for the reply (default: spec.claude.turn_timeout).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
def send(name: str, prompt: str | None, key: str | None, timeout: float | None, as_json: bool) -> None:
    """Send a prompt to a running agent and print its reply.

    Without PROMPT, the prompt is read from standard input (a file, a pipe, a
    here-document), so long or multi-line prompts need no quoting.

    \b
    Examples:
      sac agents send my-agent "What changed in the last commit?"
      sac agents send my-agent < prompt.md
      git diff | sac agents send reviewer --json
      sac agents send my-agent --key ESC
      sac agents send reviewer@lab "Review the last commit"
    """
    if "@" in name:  # the host's sac sends it; the prompt goes on ssh's standard input
        from sac.cli.remote import forward_one

        if not key and not prompt:
            if sys.stdin.isatty():
                raise UsageError("give a prompt, or pipe one on standard input")
            prompt = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
        opts = [*(["--key", key] if key else []), *(["--timeout", str(timeout)] if timeout else [])]
        data = None if key else (prompt or "").encode("utf-8", "surrogateescape")
        forward_one(name, lambda n: ["agents", "send", n, *opts, *(["--json"] if as_json else [])], input=data)
    from sac.state import AgentDir

    sock = AgentDir(name).socket
    if key:
        answer = _call(name, sock, {"op": "interrupt"}, 10)
        click.echo("interrupted" if answer.get("interrupted") else "no turn was running")
        return
    if not prompt:
        if sys.stdin.isatty():
            raise UsageError("give a prompt, or pipe one on standard input")
        prompt = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    if not prompt.strip():
        raise UsageError("the prompt is empty")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from argv or stdin (surrogates): review N1
        raise UsageError("the prompt is not valid UTF-8 text", hint="check the terminal's or file's encoding") from None
    from sac.runner.control import MAX_REQUEST

    if len(prompt.encode()) > MAX_REQUEST - 1024:  # the runner would close the socket: EPIPE (D24)
        raise UsageError(
            f"the prompt is {len(prompt.encode())} bytes; an agent takes at most {MAX_REQUEST - 1024} in one turn"
        )
    from sac.runner.control import Send

    request = Send(text=prompt, timeout=timeout or None)
    # The runner interrupts a turn at its timeout and drains it: wait that long and a margin.
    # With no timeout, wait while the runner lives and beats (control.call), never forever.
    answer = _call(name, sock, request, timeout + 30 if timeout else None)
    if as_json:
        echo_json(answer)
    elif answer.get("ok"):
        click.echo(answer.get("text", ""))
    if not answer.get("ok"):
        if not as_json:
            click.echo(f"sac: error: {name}: {answer.get('error')}", err=True)
        sys.exit(1)


def _call(name: str, sock, request, timeout: float | None) -> dict:
    from sac.runner import control

    try:
        return control.call(sock, request, timeout=timeout)
    except control.NotRunning:
        st = _known_status(name)
        raise SacError(
            f"agent {name} is not running (state: {st.state})", hint=f"start it with `sac agents start {name}`"
        ) from None


def _known_status(name: str):
    """The status of an agent that does not answer; an agent sac has neither a spec nor any
    state of is a usage error (exit 2, as `status` and `stop` say), not a failure (exit 1)."""
    from sac import lifecycle
    from sac.config import load_settings
    from sac.errors import NotFound
    from sac.lookup import resolve
    from sac.state import AgentDir

    st = lifecycle.status(name)
    if st.state == lifecycle.Phase.NEVER_STARTED and not AgentDir(name).root.exists():
        try:
            resolve(name, load_settings())
        except NotFound:
            raise NotFound(
                f"no agent {name!r}: no spec on the search path and no runtime state",
                hint="`sac agents status` lists the agents sac knows",
            ) from None
    return st


@agents.command("tail")
@click.argument("names", nargs=-1, required=True, metavar="NAME|NAME@HOST...")
@click.option("--json", "as_json", is_flag=True, help="Print the transcript events as JSON lines.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events (Ctrl-C to end).")
@click.option(
    "-n", "--lines", default=50, show_default=True, type=click.IntRange(min=0), help="How many past events (0: all)."
)
def tail(names: tuple[str, ...], as_json: bool, follow: bool, lines: int) -> None:
    """The structured transcript (session.jsonl) of agents.

    \b
    Examples:
      sac agents tail my-agent
      sac agents tail a b -f
      sac agents tail my-agent -n 0 --json
      sac agents tail reviewer@lab -f
    """
    if any("@" in n for n in names):
        from sac.cli.remote import forward_one, one_remote_only

        one_remote_only(names, "tail")
        flags = [*(["--json"] if as_json else []), *(["-f"] if follow else []), "-n", str(lines)]
        forward_one(names[0], lambda n: ["agents", "tail", n, *flags])
    from sac.state import AgentDir
    from sac.transcript import read_events

    prefix = len(names) > 1
    offsets = {}
    for name in names:
        path = AgentDir(name).transcript
        if not path.exists() and not AgentDir(name).root.exists():
            raise UsageError(f"agent {name!r} has no transcript (never started here)")
        events, offsets[name] = read_events(path, 0)
        for ev in events[-lines:] if lines else events:
            _emit(name, ev, as_json, prefix)
    while follow:
        time.sleep(0.2)
        for name in names:
            events, offsets[name] = read_events(AgentDir(name).transcript, offsets[name])
            for ev in events:
                _emit(name, ev, as_json, prefix)


def _emit(name: str, ev, as_json: bool, prefix: bool) -> None:
    import msgspec

    from sac.transcript import render

    if as_json:
        click.echo(msgspec.json.encode({"agent": name, **msgspec.to_builtins(ev)} if prefix else ev).decode())
    else:
        click.echo((f"{name}: " if prefix else "") + render(ev))


@agents.command("recall")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def recall(name: str, as_json: bool) -> None:
    """A readable summary of the agent's session: turns, tools, cost, last exchange.

    \b
    Examples:
      sac agents recall my-agent
      sac agents recall my-agent --json
    """
    from sac import lifecycle
    from sac.state import AgentDir
    from sac.transcript import read_events, summarize

    if not AgentDir(name).root.exists():
        raise UsageError(f"agent {name!r} has no session to recall (never started here)")
    events, _ = read_events(AgentDir(name).transcript, 0)
    summary = summarize(events)
    summary["state"] = lifecycle.status(name).state
    if as_json:
        echo_json(summary)
        return
    from sac.cli.output import human

    click.echo(f"{name} ({summary['state']}), session {human(summary['session_id'])}")
    click.echo(
        f"{summary['turns']} turns, {summary['errors']} errors, ${summary['cost_usd']:.4f}, "
        f"{summary['input_tokens']} tokens in / {summary['output_tokens']} out"
    )
    if summary["tools"]:
        click.echo("tools: " + ", ".join(f"{k} x{v}" for k, v in summary["tools"].items()))
    if summary["first_prompt"]:
        click.echo(f"first prompt: {summary['first_prompt']}")
    if summary["last_prompt"]:
        click.echo(f"last prompt:  {summary['last_prompt']}")
        click.echo(f"last reply:   {human(summary['last_reply'])}")


@agents.command("find")
@click.argument("capability")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the agents found (name, spec, state, capabilities) as JSON."
)
def find(capability: str, as_json: bool) -> None:
    """Agents whose metadata.labels.capabilities include CAPABILITY.

    \b
    Examples:
      sac agents find review
      sac agents find review --json
    """
    from sac import lifecycle
    from sac.agent import load_agent
    from sac.lookup import discover

    plugins, settings = context.plugins(), context.settings()
    found = []
    for name, path in discover(settings):
        try:
            agent = load_agent(str(path), plugins, settings)
        except SacError:
            continue  # `sac agents check` reports broken specs; find lists the good ones
        if capability in agent.document.metadata.capabilities:
            found.append(
                {
                    "name": name,
                    "spec": str(path),
                    "state": lifecycle.status(name).state,
                    "capabilities": agent.document.metadata.capabilities,
                }
            )
    if as_json:
        echo_json(found)
    else:
        for f in found:
            click.echo(f"{f['name']}  {f['state']}  {f['spec']}")
        if not found:
            click.echo(f"no agent lists the capability {capability!r} (metadata.labels.capabilities)", err=True)
    sys.exit(0 if found else 1)
