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
