"""``sac spec ...``: the schema of spec.yaml, and validation without a runtime."""

from __future__ import annotations

import sys

import click

from sac.cli import context
from sac.cli.output import echo_json
from sac.cli.root import builtin_group


@builtin_group("spec")
def spec() -> None:
    pass


@spec.command("schema")
def schema() -> None:
    """Print the JSON Schema of spec.yaml (core fields and every plugin section).

    Point your editor's YAML language server at it for completion and checks.

    \b
    Examples:
      sac spec schema > spec.schema.json
    """
    from sac.spec.schema import json_schema

    echo_json(json_schema(context.plugins().spec_type))


@spec.command("validate")
@click.argument("refs", nargs=-1, required=True, metavar="NAME|DIR|SPEC.yaml...")
@click.option("--json", "as_json", is_flag=True, help="Print one result per spec, with its problems, as JSON.")
def validate(refs: tuple[str, ...], as_json: bool) -> None:
    """Validate specs; print every problem as file:line:col. Exit 2 if any is invalid.

    \b
    Examples:
      sac spec validate my-agent
      sac spec validate agents/*/spec.yaml --json
    """
    import msgspec

    from sac.agent import load_agent
    from sac.cli.output import echo_json
    from sac.errors import SacError
    from sac.spec.errors import SpecError

    plugins, settings = context.plugins(), context.settings()
    status, results = 0, []
    for ref in refs:
        try:
            agent = load_agent(ref, plugins, settings)
            results.append({"ref": ref, "spec": str(agent.spec_path), "ok": True, "problems": []})
            if not as_json:
                click.echo(f"{agent.spec_path}: ok")
        except SacError as e:
            problems = (
                msgspec.to_builtins(e.problems)
                if isinstance(e, SpecError)
                else [{"file": ref, "line": 0, "col": 0, "path": "", "message": e.message}]
            )
            results.append({"ref": ref, "spec": None, "ok": False, "problems": problems})
            if not as_json:
                click.echo(e.render() if isinstance(e, SpecError) else f"sac: error: {e.render()}", err=True)
            status = max(status, e.exit_code)
    if as_json:
        echo_json(results)
    sys.exit(status)
