"""``sac spec ...``: the schema of spec.yaml, and validation without a runtime."""

from __future__ import annotations

import sys

import click

from sac.cli import context
from sac.cli.output import echo_json


@click.group()
def spec() -> None:
    """The spec.yaml schema and validation."""


@spec.command("schema")
def schema() -> None:
    """Print the JSON Schema of spec.yaml (core fields and every plugin section).

    Point your editor's YAML language server at it for completion and checks.
    """
    from sac.spec.schema import json_schema

    echo_json(json_schema(context.plugins().spec_type))


@spec.command("validate")
@click.argument("refs", nargs=-1, required=True, metavar="NAME|DIR|SPEC.yaml...")
def validate(refs: tuple[str, ...]) -> None:
    """Validate specs; print every problem as file:line:col. Exit 2 if any is invalid."""
    from sac.agent import load_agent
    from sac.errors import SacError
    from sac.spec.errors import SpecError

    plugins, settings = context.plugins(), context.settings()
    status = 0
    for ref in refs:
        try:
            agent = load_agent(ref, plugins, settings)
            click.echo(f"{agent.spec_path}: ok")
        except SacError as e:
            click.echo(e.render() if isinstance(e, SpecError) else f"sac: error: {e.render()}", err=True)
            status = max(status, e.exit_code)
    sys.exit(status)
