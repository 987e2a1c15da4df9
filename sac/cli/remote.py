"""``NAME@HOST`` in ``sac agents ...``: the same command, run by the host's sac over ssh.

A prompt goes on standard input, never in the remote command line (which other users of
either host can read in ``ps``). The remote sac's output and exit status are this command's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import NoReturn

import click

from sac.cli.output import echo_json
from sac.errors import SacError, UsageError


def split_ref(ref: str) -> tuple[str, str | None]:
    """``NAME@HOST`` -> (NAME, HOST); ``NAME`` -> (NAME, None)."""
    from sac.names import check_name

    name, at, host = ref.partition("@")
    if not at:
        return ref, None
    return check_name(name), check_name(host, "host name")


def split(refs: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(refs for this host, {host: names there}), each in the order given."""
    here: list[str] = []
    there: dict[str, list[str]] = {}
    for ref in refs:
        name, host = split_ref(ref) if "@" in ref and "/" not in ref else (ref, None)
        if host is None:
            here.append(ref)
        else:
            there.setdefault(host, []).append(name)
    return here, there


def run_there(host: str, args: list[str], *, input: bytes | None = None, capture: bool = False, timeout=None):
    """The host's sac with ``args`` (output streamed here unless ``capture``)."""
    from sac.hosts import get_host, run, sac_command

    h = get_host(host)
    return run(host, h, [*sac_command(h), *args], input=input, capture=capture, timeout=timeout)


def forward_one(ref: str, args_for: Callable[[str], list[str]], input: bytes | None = None) -> NoReturn:
    """Run the host's sac with ``args_for(NAME)`` for the one ``NAME@HOST`` on its host and exit with its status."""
    name, host = split_ref(ref)
    assert host is not None
    sys.exit(run_there(host, args_for(name), input=input).returncode)


def forward_groups(
    there: dict[str, list[str]], args_for: Callable[[list[str]], list[str]], as_json: bool
) -> tuple[int, list]:
    """Run the host's sac with ``args_for(names)`` for each host's names: (worst exit status, JSON rows when ``as_json``;
    each row says its host). Without ``as_json`` the hosts' output streams here."""
    worst, rows = 0, []
    for host, names in there.items():
        try:
            done = run_there(host, args_for(names), capture=as_json)
        except SacError as e:  # an unreachable host fails its agents, not the others
            if as_json:
                rows += [
                    {"name": n, "fleet_host": host, "ok": False, "error": e.message, "hint": e.hint} for n in names
                ]
            else:
                click.echo(f"sac: error: {e.render()}", err=True)
            worst = max(worst, 1)
            continue
        worst = max(worst, done.returncode)
        if as_json:
            sys.stderr.write(done.stderr.decode(errors="replace"))
            try:
                got = json.loads(done.stdout)
            except ValueError:
                got = [{"name": n, "ok": False, "error": f"host {host}: no JSON answer"} for n in names]
            got = got if isinstance(got, list) else [got]
            rows += [
                {**r, "fleet_host": host}
                if isinstance(r, dict)
                else {"ok": False, "error": f"host {host}: no JSON row"}
                for r in got
            ]
    return worst, rows


def finish(local_status: int | None, local_rows: list, remote: tuple[int, list], as_json: bool) -> NoReturn:
    """Exit with the worst status of here and there; with ``as_json`` one list of rows, each
    saying its host when any came from another."""
    code, rows = remote
    if as_json:
        echo_json([*({**r, "fleet_host": "local"} if rows else r for r in local_rows), *rows])
    sys.exit(max(code, local_status or 0))


def one_remote_only(refs: Iterable[str], what: str) -> None:
    here, there = split(refs)
    if there and (here or sum(map(len, there.values())) > 1):
        raise UsageError(f"{what} takes one NAME@HOST at a time (or names on this host)")


def remote_start_options(
    runtime: str | None,
    on: str | None,
    timeout: float,
    as_json: bool,
    *,
    resume: bool = False,
    ignore_startup_errors: bool = False,
    jobs: int | None = None,
) -> list[str]:
    """The options of a start that the host's sac is given as they were given here."""
    return [
        *(["--runtime", runtime] if runtime else []),
        *(["--on", on] if on else []),
        *(["--timeout", str(timeout)]),
        *(["--resume"] if resume else []),
        *(["--ignore-startup-errors"] if ignore_startup_errors else []),
        *(["--jobs", str(jobs)] if jobs else []),
        *(["--json"] if as_json else []),
    ]


def start_there(there: dict[str, list[str]], opts: list[str], as_json: bool, alone: bool, copy: bool = True) -> int:
    """Start (copying each folder first, unless ``copy`` is false: a restart) agents on their
    hosts: the worst exit status; each host's sac prints its own rows."""
    if as_json and not (alone and len(there) == 1):
        raise UsageError("--json with NAME@HOST: name the agents of one host at a time")
    worst = 0
    for host, names in there.items():
        try:
            if copy:  # an agent with no folder here is started from the host's own folder
                from sac.fleet import has_folder, send_folders

                ours = [n for n in names if has_folder(n)]
                if ours:
                    sent = send_folders(host, ours, lambda m: click.echo(f"sac: {m}", err=True), keep_running=True)
                    names = [*sent, *(n for n in names if n not in ours)]
            done = run_there(host, ["agents", "restart" if not copy else "start", *names, *opts])
            worst = max(worst, done.returncode)
        except SacError as e:
            click.echo(f"sac: error: {e.render()}", err=True)
            worst = max(worst, e.exit_code)
    return worst
