"""``sac listen``: the per-host control plane."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import click

from sac.cli.output import echo_json
from sac.cli.root import builtin_group
from sac.errors import SacError
from sac_hookspecs.toolkit.files import private_dirs


@builtin_group("listen", invoke_without_command=True)
@click.option("--bind", default="127.0.0.1:7878", show_default=True, help="HOST:PORT to listen on.")
@click.option("--allow-non-loopback", is_flag=True, help="Allow a non-loopback --bind (behind a firewall you trust).")
@click.pass_context
def listen(ctx: click.Context, bind: str, allow_non_loopback: bool) -> None:
    """Agents' status, send, card, tail, start and stop over HTTP. Every route but /v1/health
    needs the bearer token in $SAC_HOME/listen/token (0600, made on first start). One control plane per host. API: GET /v1/openapi.json.
    """
    if ctx.invoked_subcommand:
        return
    from sac.listen.server import parse_bind, serve

    host, port = parse_bind(bind, allow_non_loopback)
    serve(host, port, echo=lambda line: click.echo(line, err=True))


@listen.command("status")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the control plane's pid and URL as JSON ({} if it does not run)."
)
def status(as_json: bool) -> None:
    """Whether the control plane runs, its pid and URL (exit 1 if it does not).

    \b
    Examples:
      sac listen status
      sac listen status --json
    """
    from sac.controlplane import running

    info = running()
    if as_json:
        echo_json(info or {})
    else:
        click.echo(f"running: pid {info['pid']}, {info['url']}" if info else "not running")
    raise SystemExit(0 if info else 1)


@listen.command("open")
@click.option(
    "--url",
    "print_url",
    is_flag=True,
    help="Print the sign-in link itself (for a browser elsewhere, through an ssh tunnel).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the file, the link and how long it is good for as JSON.")
def open_(print_url: bool, as_json: bool) -> None:
    """A one-time sign-in to the dashboard (the fleet in a browser): prints a file:// link
    to open in your browser on this machine. It works once, for two minutes, and gives that
    browser a session; the token stays here.

    The link is a 0600 file that sends the browser on to the real one, so the one-time code
    is in no program's arguments, which every user of the host can read (as Jupyter does).
    `--url` prints the real link instead: paste it into a browser's address bar yourself
    (through `ssh -L PORT:127.0.0.1:PORT host` from another machine); do not hand it to a
    program.

    \b
    Examples:
      sac listen open
      sac listen open --url
      sac listen open --json
    """
    import html
    import secrets
    import time

    from sac.controlplane import LOGIN_TTL, listen_dir, new_login, running
    from sac_hookspecs.toolkit.files import write_atomic

    info = running()
    if not info:
        raise SacError("sac listen does not run on this host", hint="start it with `sac listen restart`")
    if not info.get("dashboard"):
        raise SacError(
            "this sac listen serves no dashboard: it listens on a non-loopback address (or is older)",
            hint="the dashboard is served on a loopback --bind only: `sac listen restart --bind 127.0.0.1:7878`",
        )
    url = f"{info['dashboard']}/ui/login?code={new_login()}"
    folder = listen_dir() / "open"
    private_dirs(folder)
    for old in folder.iterdir():  # the used and the stale ones
        if time.time() - old.lstat().st_mtime > LOGIN_TTL:
            old.unlink(missing_ok=True)
    page = folder / f"{secrets.token_hex(8)}.html"
    target = html.escape(url, quote=True)
    write_atomic(
        page,
        f'<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
        f'<meta http-equiv="refresh" content="0;url={target}"><title>sac: signing in</title>'
        f'<p>Signing in to sac… (<a href="{target}">go on</a>)</p>'.encode(),
        mode=0o600,
    )
    if as_json:
        echo_json({"file": page.as_uri(), "url": url, "expires_in": LOGIN_TTL})
        return
    click.echo(url if print_url else page.as_uri())
    where = "paste it into a browser's address bar" if print_url else "open it in a browser on this machine"
    click.echo(f"({where} within {LOGIN_TTL:g} s; it works once)", err=True)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (granian's workers)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
    return kids


def _stop(timeout: float = 10.0) -> dict | None:
    from sac.controlplane import running

    info = running()
    if not info:
        return None
    workers = _children(info["pid"])  # they hold the lock too: they must go with it
    try:
        os.kill(info["pid"], signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running():
        time.sleep(0.05)
    if running():
        for pid in [info["pid"], *workers]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    while time.monotonic() < deadline + 5 and _healthy(info["url"]):  # its worker may outlive it briefly
        time.sleep(0.05)
    return info


@listen.command("stop")
@click.option("--json", "as_json", is_flag=True, help="Print what was stopped (pid, URL; {} if nothing ran) as JSON.")
def stop(as_json: bool) -> None:
    """Stop the running control plane.

    \b
    Examples:
      sac listen stop
    """
    info = _stop()
    if as_json:
        echo_json(info or {})
    else:
        click.echo(f"stopped (pid {info['pid']})" if info else "not running")


@listen.command("restart")
@click.option("--bind", help="HOST:PORT (default: where it ran, else 127.0.0.1:7878).")
@click.option("--allow-non-loopback", is_flag=True, help="Allow a non-loopback --bind (behind a firewall you trust).")
@click.option("--json", "as_json", is_flag=True, help="Print the running control plane (pid, URL) as JSON.")
def restart(bind: str | None, allow_non_loopback: bool, as_json: bool) -> None:
    """Stop the control plane (if it runs) and start it again, detached.

    \b
    Examples:
      sac listen restart
      sac listen restart --bind 127.0.0.1:7979 --json
    """
    from sac.controlplane import listen_dir, running
    from sac.lifecycle import self_command
    from sac.listen.server import parse_bind

    if bind is None:
        current = running()
        bind = current["url"].split("//", 1)[1].replace("[", "").replace("]", "") if current else "127.0.0.1:7878"
    parse_bind(bind, allow_non_loopback)  # refuse before stopping anything
    _stop()
    args = [*self_command(), "listen", "--bind", bind] + (["--allow-non-loopback"] if allow_non_loopback else [])
    private_dirs(listen_dir())
    with open(listen_dir() / "listen.log", "ab") as log:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = running()
        if info and _healthy(info["url"]):
            if as_json:
                echo_json(info)
            else:
                click.echo(f"running: pid {info['pid']}, {info['url']}")
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SacError("the control plane did not come up", hint=f"see {listen_dir() / 'listen.log'}")


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/v1/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
