"""``sac fleet ...``: agents on the ssh hosts (``sac host add``) as one fleet."""

from __future__ import annotations

import sys

import click

from sac.cli.output import echo_json, table
from sac.cli.root import builtin_group
from sac.errors import SacError, UsageError


@builtin_group("fleet")
def fleet() -> None:
    pass


def _progress(message: str) -> None:
    click.echo(f"sac: {message}", err=True)


@fleet.command("launch")
@click.argument("host")
@click.argument("refs", nargs=-1, required=True, metavar="NAME|DIR|SPEC.yaml...")
@click.option("--runtime", help="Run on this runtime there, whatever the spec says.")
@click.option(
    "--timeout", default=180.0, show_default=True, type=float, help="Seconds to wait for each agent to be ready."
)
@click.option("--json", "as_json", is_flag=True, help="Print the host's start rows as JSON.")
def launch(host: str, refs: tuple[str, ...], runtime: str | None, timeout: float, as_json: bool) -> None:
    """Copy agents' folders (spec.yaml, to_home/, dot_claude/, script.yaml, ...) to HOST and
    start them there; `sac agents start NAME@HOST` is the same for one agent.

    \b
    Examples:
      sac fleet launch lab reviewer writer
      sac fleet launch hpc ./agents/trainer --json
    """
    from sac.cli.remote import remote_start_options, start_there
    from sac.hosts import get_host

    get_host(host)
    sys.exit(start_there({host: list(refs)}, remote_start_options(runtime, None, timeout, as_json), as_json, True))


@fleet.command("status")
@click.argument("hosts", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print {hosts: [...], agents: [...]} as JSON.")
def status(hosts: tuple[str, ...], as_json: bool) -> None:
    """Every agent here and on every host (or the HOSTS named) in one table; a host that
    does not answer within seconds is shown unreachable, the others are not held up.

    \b
    Examples:
      sac fleet status
      sac fleet status lab hpc --json
    """
    show_fleet(hosts, as_json)


def show_fleet(names: tuple[str, ...], as_json: bool) -> None:
    import msgspec

    from sac.cli.local_status import ago as _ago
    from sac.cli.local_status import status_rows
    from sac.fleet import hosts_status
    from sac.hosts import get_host, load_hosts, printable

    hosts = {n: get_host(n) for n in names} if names else load_hosts()
    here = [] if names else [{**msgspec.to_builtins(r), "fleet_host": "local"} for r in status_rows()]
    reports, there = hosts_status(hosts)
    rows = [*here, *there]
    if as_json:
        echo_json({"hosts": reports, "agents": rows})
    else:
        lines = [
            (
                r["fleet_host"],
                printable(r["name"]),  # what another machine said is shown, never obeyed (escapes)
                printable(r.get("runtime") or "-"),
                printable(r["state"]),
                _ago(r.get("uptime_s")),
                r.get("restarts", 0),
                r.get("turns", 0),
                f"${r.get('cost_usd') or 0:.4f}",
                printable((r.get("last_error") or "")[:60]),
            )
            for r in rows
        ]
        lines += [
            (h["name"], "-", "-", "unreachable", "-", "-", "-", "-", printable(h["error"][:90]))
            for h in reports
            if not h["reachable"]
        ]
        header = ("HOST", "NAME", "RUNTIME", "STATE", "UPTIME", "RESTARTS", "TURNS", "COST", "LAST ERROR")
        if lines:
            click.echo(table(header, lines))
        else:
            click.echo("no agents and no hosts: `sac host add NAME SSH-TARGET`, then `sac fleet launch`", err=True)
    sys.exit(0 if all(h["reachable"] for h in reports) else 1)


@fleet.command("sync")
@click.argument("hosts", nargs=-1)
@click.option("--agent", "agents", multiple=True, metavar="NAME", help="Only this agent (repeatable).")
@click.option("--push", is_flag=True, help="Copy the local folder over each one that differs.")
@click.option("--json", "as_json", is_flag=True, help="Print one row per host and agent as JSON (with the diff).")
def sync(hosts: tuple[str, ...], agents: tuple[str, ...], push: bool, as_json: bool) -> None:
    """Compare the agent folders on each host (all by default) with the local ones: exit 1
    with a diff when they differ; `--push` makes the hosts' copies the local ones.

    \b
    Examples:
      sac fleet sync
      sac fleet sync lab --push
      sac fleet sync --agent reviewer --json
    """
    from sac.fleet import drift, send_folders
    from sac.hosts import get_host, load_hosts, printable

    chosen = {n: get_host(n) for n in hosts} if hosts else load_hosts()
    if not chosen:
        raise UsageError("no hosts: `sac host add NAME SSH-TARGET` registers one")
    rows, failed = [], False
    for name, host in sorted(chosen.items()):
        try:
            found = drift(name, host, list(agents))
        except SacError as e:
            click.echo(f"sac: error: {e.render()}", err=True)
            failed = True
            continue
        differing = [r["agent"] for r in found if r["state"] in ("differs", "missing-there")]
        if push and differing:
            try:
                send_folders(name, differing, _progress)
            except SacError as e:  # this host stays as it was; the others are still pushed
                click.echo(f"sac: error: {e.render()}", err=True)
                failed = True
            else:
                for r in found:
                    if r["agent"] in differing:
                        r["pushed"] = True
        rows += found
    if as_json:
        echo_json(rows)
    else:
        for r in rows:
            what = {
                "same": "in sync",
                "differs": "differs",
                "missing-there": "not on the host",
                "only-there": "only on the host (no local folder)",
                "unknown": "neither here nor on the host",
            }[r["state"]]
            click.echo(f"{r['host']}: {r['agent']}: {what}{' (pushed)' if r.get('pushed') else ''}")
            if r["diff"] and not r.get("pushed"):
                click.echo(printable(r["diff"].rstrip("\n"), keep="\n\t"))
    drifted = any(r["state"] in ("differs", "missing-there", "unknown") and not r.get("pushed") for r in rows)
    sys.exit(1 if failed or drifted else 0)


@fleet.command("pack", hidden=True)
@click.argument("names", nargs=-1)
def pack(names: tuple[str, ...]) -> None:
    """Write the folders of NAMES (all) under $SAC_HOME/agents as a tar stream (for `sync`).

    \b
    Examples:
      sac fleet pack reviewer > reviewer.tar
    """
    from sac.fleet import pack_installed

    sys.stdout.buffer.write(pack_installed(names))


@fleet.command("receive", hidden=True)
@click.option("--keep-running", is_flag=True, help="Keep the folder of an agent that runs here as it is.")
@click.option("--json", "as_json", is_flag=True, help="Print the names installed and kept as JSON.")
def receive(keep_running: bool, as_json: bool) -> None:
    """Install the agent folders of the tar stream on standard input under $SAC_HOME/agents.

    \b
    Examples:
      sac fleet receive < reviewer.tar
    """
    from sac.fleet import receive as install

    result = install(sys.stdin.buffer.read(), keep_running)
    if as_json:
        echo_json(result)
    else:
        for name in result["kept"]:
            click.echo(f"sac: {name} runs here: its folder was kept as it is", err=True)
        click.echo(" ".join(result["installed"]))
