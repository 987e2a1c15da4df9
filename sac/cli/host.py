"""``sac host ...``: the registry of peer hosts' control planes (URL and bearer token)."""

from __future__ import annotations

import os
import sys

import click

from sac.cli.output import echo_json, table
from sac.cli.root import builtin_group
from sac.errors import UsageError


@builtin_group("host")
def host() -> None:
    pass


@host.command("add-peer")
@click.argument("name")
@click.argument("url")
@click.option("--token-from-env", "var", metavar="VAR", help="Read the peer's bearer token from this variable.")
@click.option("--token-stdin", is_flag=True, help="Read the peer's bearer token from standard input.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the peer (name, URL, token file; never the token) as JSON."
)
def add_peer(name: str, url: str, var: str | None, token_stdin: bool, as_json: bool) -> None:
    """Register a peer host's control plane (its token is never an argument).

    \b
    Examples:
      sac host add-peer gpu1 http://gpu1:7878 --token-from-env GPU1_TOKEN
      ssh gpu1 cat .scitex/agent-container/listen/token | sac host add-peer gpu1 http://gpu1:7878 --token-stdin
    """
    from sac.peers import add_peer as add

    if bool(var) == token_stdin:
        raise UsageError("give exactly one of --token-from-env VAR or --token-stdin")
    token = (os.environ.get(var or "", "") if var else sys.stdin.read()).strip()
    if not token:
        raise UsageError("the token is empty; nothing saved")
    path = add(name, url, token)
    if as_json:
        echo_json({"name": name, "url": url.rstrip("/"), "token_file": str(path)})
    else:
        click.echo(f"peer {name}: {url} (token in {path})")


@host.command("list-peers")
@click.option("--json", "as_json", is_flag=True, help="Print the peers (names and URLs, never tokens) as JSON.")
def list_peers(as_json: bool) -> None:
    """Registered peers (names and URLs, never tokens).

    \b
    Examples:
      sac host list-peers
      sac host list-peers --json
    """
    from sac.peers import list_peers as peers

    rows = peers()
    if as_json:
        echo_json(rows)
    elif rows:
        click.echo(table(("PEER", "URL"), [(r["name"], r["url"]) for r in rows]))
    else:  # a message, not a result: stdout stays empty
        click.echo("no peers: `sac host add-peer NAME URL --token-stdin` registers one", err=True)


@host.command("remove-peer")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the removed peer's name as JSON.")
def remove_peer(name: str, as_json: bool) -> None:
    """Forget a peer host.

    \b
    Examples:
      sac host remove-peer gpu1
    """
    from sac.peers import remove_peer as remove

    if not remove(name):
        raise UsageError(f"no peer host {name!r}")
    if as_json:
        echo_json({"name": name, "removed": True})
    else:
        click.echo(f"removed peer {name}")


# -- ssh hosts ---------------------------------------------------------------------------


def _hosts_json(hosts) -> list[dict]:
    import msgspec

    return [{"name": n, **msgspec.to_builtins(h)} for n, h in sorted(hosts.items())]


@host.command("add")
@click.argument("name")
@click.argument("target", metavar="SSH-TARGET")
@click.option(
    "--sac",
    "sac_path",
    metavar="PATH",
    help="The sac on the host (a .pyz runs with --python); default: `sac` on its PATH.",
)
@click.option("--home", metavar="DIR", help="SAC_HOME on the host (default: the remote user's).")
@click.option("--python", default="python3", show_default=True, help="The host's Python, for a .pyz.")
@click.option(
    "-o", "--ssh-option", "options", multiple=True, metavar="KEY=VALUE", help="An extra ssh -o setting (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the host as JSON.")
def add(name: str, target: str, sac_path: str | None, home: str | None, python: str, options, as_json: bool) -> None:
    """Register a machine reached with the system ssh (your ~/.ssh/config applies untouched).

    \b
    Examples:
      sac host add lab me@lab.example.org
      sac host add hpc hpc-login --sac .local/bin/sac.pyz --home /scratch/me/sac
      sac host add gpu1 gpu1 -o IdentityFile=~/.ssh/id_gpu1
    """
    from sac.hosts import Host, check_option, load_hosts, save_hosts
    from sac.names import check_name

    check_name(name, "host name")
    if not target or target.startswith("-"):
        raise UsageError(f"ssh target {target!r} must not be empty or start with '-'")
    hosts = load_hosts()
    hosts[name] = h = Host(
        target=target, sac=sac_path, home=home, python=python, options=[check_option(o) for o in options]
    )
    save_hosts(hosts)
    if as_json:
        echo_json(_hosts_json({name: h})[0])
    else:
        click.echo(f"host {name}: {target} (check it with `sac host probe {name}`)")


@host.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the hosts as JSON.")
def list_hosts(as_json: bool) -> None:
    """Registered ssh hosts.

    \b
    Examples:
      sac host list
      sac host list --json
    """
    from sac.hosts import load_hosts

    hosts = load_hosts()
    if as_json:
        echo_json(_hosts_json(hosts))
    elif hosts:
        rows = [(n, h.target, h.sac or "sac", h.home or "-") for n, h in sorted(hosts.items())]
        click.echo(table(("HOST", "SSH TARGET", "SAC", "SAC_HOME"), rows))
    else:
        click.echo("no hosts: `sac host add NAME SSH-TARGET` registers one", err=True)


@host.command("remove")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the removed host's name as JSON.")
def remove(name: str, as_json: bool) -> None:
    """Forget a host (its agents keep running there) and close its ssh master.

    \b
    Examples:
      sac host remove lab
    """
    from sac.hosts import drop_master, get_host, load_hosts, save_hosts

    h = get_host(name)
    hosts = load_hosts()
    del hosts[name]
    save_hosts(hosts)
    try:
        drop_master(name, h)
    except Exception:  # noqa: BLE001 - no master, or ssh gone: nothing to close
        pass
    if as_json:
        echo_json({"name": name, "removed": True})
    else:
        click.echo(f"removed host {name}")


@host.command("ssh-opts")
@click.argument("name")
def ssh_opts(name: str) -> None:
    """The ssh command sac uses for a host, shell-quoted (it shares the host's master).

    \b
    Examples:
      sac host ssh-opts lab
      eval "$(sac host ssh-opts lab)" uptime
    """
    import shlex

    from sac.hosts import get_host, ssh_argv

    click.echo(shlex.join(ssh_argv(name, get_host(name))))


@host.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("--timeout", type=float, help="Seconds before giving up (default: none).")
def exec_(name: str, command: tuple[str, ...], timeout: float | None) -> None:
    """Run a command on a host over its shared ssh master; `sac` as the command is the host's sac.

    \b
    Examples:
      sac host exec lab -- uptime
      sac host exec lab -- sac agents status
    """
    from sac.hosts import get_host, run, sac_command

    h = get_host(name)
    argv = list(command)
    if argv[0] == "sac":
        argv = [*sac_command(h), *argv[1:]]
    done = run(name, h, argv, timeout=timeout, capture=False, stdin=True)
    sys.exit(done.returncode)


@host.command("probe")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one report per host as JSON.")
def probe(names: tuple[str, ...], as_json: bool) -> None:
    """Reachability, remote sac and Python, runtimes, free disk and load of hosts (all by default).

    Exit status 1 when a host is unreachable or has no sac that runs there.

    \b
    Examples:
      sac host probe
      sac host probe lab --json
    """
    from sac.concurrently import each
    from sac.fleet import probe as probe_one
    from sac.hosts import get_host, load_hosts

    hosts = {n: get_host(n) for n in names} if names else load_hosts()
    if not hosts:
        raise UsageError("no hosts: `sac host add NAME SSH-TARGET` registers one")
    reports: dict[str, dict] = {
        out.item: out.result or {} for out in each(sorted(hosts), lambda n: probe_one(n, hosts[n]), jobs=16)
    }
    rows = [reports[n] for n in sorted(hosts)]
    if as_json:
        echo_json(rows)
    else:
        click.echo(
            table(
                ("HOST", "REACHABLE", "SAC", "PYTHON", "RUNTIMES", "DISK FREE", "LOAD", "NOTE"),
                [
                    (
                        r["name"],
                        "yes" if r["reachable"] else "no",
                        r.get("sac") or "-",
                        r.get("python") or "-",
                        ",".join(r.get("runtimes") or []) or "-",
                        f"{r['disk_free_gb']:.1f} GB" if r.get("disk_free_gb") is not None else "-",
                        f"{r['load'][0]:.2f}" if r.get("load") else "-",
                        (r.get("error") or "")[:70],
                    )
                    for r in rows
                ],
            )
        )
    sys.exit(0 if all(r["reachable"] and not r.get("error") for r in rows) else 1)  # a host sac cannot use: 1


@host.command("facts", hidden=True)
def facts() -> None:
    """What `sac host probe` asks a host's sac: version, runtimes available, claude CLI.

    \b
    Examples:
      sac host facts
    """
    from sac.fleet import local_facts

    echo_json(local_facts())


@host.command("install")
@click.argument("name")
@click.option(
    "--pyz",
    type=click.Path(dir_okay=False),
    help="The sac.pyz to copy (default: the one running, or the full one beside it when the host has no claude CLI).",
)
@click.option(
    "--to", "dest", metavar="PATH", help="Where on the host (default: the host's --sac .pyz, else .local/bin/sac.pyz)."
)
@click.option("--json", "as_json", is_flag=True, help="Print what was installed as JSON.")
def install(name: str, pyz: str | None, dest: str | None, as_json: bool) -> None:
    """Copy a sac.pyz to a host over its ssh master (refused when its Python minor differs).

    \b
    Examples:
      sac host install lab
      sac host install hpc --pyz dist/sac.pyz --to /scratch/me/sac.pyz
    """
    from sac.fleet import install as install_on

    result = install_on(name, pyz, dest, progress=lambda m: click.echo(f"sac: {m}", err=True))
    if as_json:
        echo_json(result)
    else:
        click.echo(f"host {name}: sac {result['version']} ({result['variant']}) at {result['path']}")
