"""``sac peer ...``: talk to agents through control planes (this host's or a peer's) or A2A."""

from __future__ import annotations

import sys

import click

from sac.cli.output import echo_json
from sac.cli.root import builtin_group
from sac.errors import SacError


@builtin_group("peer")
def peer() -> None:
    pass


@peer.command("post-turn")
@click.argument("agent", metavar="AGENT|AGENT@PEER|AGENT@HOST|URL")
@click.argument("text")
@click.option("--timeout", type=float, help="Seconds to wait for the reply.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
def post_turn(agent: str, text: str, timeout: float | None, as_json: bool) -> None:
    """Send TEXT ('-': standard input) to AGENT and print the reply. AGENT@HOST of a
    `sac host` goes to that host's sac over ssh (the text on ssh's standard input), which
    posts it through its `sac listen`, else straight to the agent.

    \b
    Examples:
      sac peer post-turn my-agent "hi"
      sac peer post-turn reviewer@gpu1 "Review PR 12" --json
      sac peer post-turn http://127.0.0.1:8123 "hi"
      sac peer post-turn answerer@lab - < question.md
    """
    from sac.controlplane import post_json
    from sac.peers import CONTROL, SSH, target

    if text == "-":
        text = sys.stdin.read()
    url, token = target(agent)
    if url.startswith(SSH):  # that host's own sac, over ssh; the text never in a command line
        import json

        from sac.cli.remote import run_there

        host, _, name = url.removeprefix(SSH).partition("/")
        args = ["peer", "post-turn", name, "-", "--json", *(["--timeout", str(timeout)] if timeout else [])]
        # the remote waits up to its own deadline (default 600 s); this side a margin more
        done = run_there(host, args, input=text.encode(), capture=True, timeout=(timeout or 600) + 60)
        try:
            result = json.loads(done.stdout)
            if not isinstance(result, dict):
                raise ValueError(result)
        except ValueError:
            from sac.hosts import last_line

            raise SacError(f"{agent}: {last_line(done.stderr, f'exit {done.returncode}')}") from None
        if not result.get("ok", True) and not as_json:
            from sac.hosts import printable

            raise SacError(printable(f"{agent}: {result.get('error')}"))
    elif url.startswith(CONTROL):  # an agent placed on another node: its own control endpoint
        from sac.runner import control
        from sac.state import AgentDir

        name = url.removeprefix(CONTROL)
        request = control.Send(text=text, timeout=timeout or None, source="peer")
        result = control.call(AgentDir(name).socket, request, timeout=None)
        if not result.get("ok", False) and not as_json:
            raise SacError(f"{name}: {result.get('error')}")
    elif url == agent:  # an A2A URL: a transport plugin speaks the protocol
        from sac.cli import context

        speaking = [t for _, t in context.plugins().transports.items() if t.speaks(url)]
        if not speaking:
            raise SacError(f"no installed transport can post to {url}", hint="see `sac plugins list`")
        result = {"ok": True, "text": speaking[0].post_turn(url, text, timeout, token=token)}
    else:
        result = post_json(
            url, {"text": text, **({"timeout": timeout} if timeout else {})}, token, (timeout or 600) + 30
        )
    if as_json:
        echo_json(result)
    else:
        click.echo(result.get("text", ""))
    sys.exit(0 if result.get("ok", True) else 1)


@peer.command("resolve-url")
@click.argument("agent", metavar="AGENT|AGENT@PEER|URL")
def resolve_url(agent: str) -> None:
    """Print the URL `post-turn AGENT` would post to.

    \b
    Examples:
      sac peer resolve-url reviewer@gpu1
    """
    from sac.peers import target

    click.echo(target(agent)[0])
