"""``sac agents ...``: the agent lifecycle. This issue's part: ``check``."""

from __future__ import annotations

import sys

import click

from sac.cli import context
from sac.cli.output import echo_json, table


@click.group()
def agents() -> None:
    """Check, start, stop and talk to agents."""


@agents.command("check")
@click.argument("refs", nargs=-1, metavar="[NAME|DIR|SPEC.yaml]...")
@click.option("--runtime", help="Use this runtime when a spec names none (default: the best available).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
def check(refs: tuple[str, ...], runtime: str | None, as_json: bool) -> None:
    """Validate specs and preflight their runtime, provider and transports.

    With no arguments, checks every agent on the search path. Exit status: 0 all
    ready, 1 a check failed, 2 a spec is invalid or an agent was not found.
    """
    from sac.lookup import discover
    from sac.preflight import preflight

    plugins, settings = context.plugins(), context.settings(default_runtime=runtime)
    if not refs:
        refs = tuple(str(path) for _, path in discover(settings))
        if not refs:
            raise click.UsageError("no agents found on the search path; name one (see `sac config show`)")
    reports = [preflight(ref, plugins, settings) for ref in refs]
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
            rows.append((r.agent, c.name, "ok" if c.ok else "FAIL", c.detail))
            if not c.ok and c.fix:
                rows.append(("", "", "", f"fix: {c.fix}"))
    click.echo(table(("AGENT", "CHECK", "STATUS", "DETAIL"), rows))
    bad = [r.agent for r in reports if not r.ok]
    click.echo(f"\n{len(reports) - len(bad)} of {len(reports)} ready" + (f"; not ready: {', '.join(bad)}" if bad else ""))
