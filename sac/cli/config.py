"""``sac config ...``."""

from __future__ import annotations

import click

from sac.cli import builtin_group, context
from sac.cli.output import echo_json, table


@builtin_group("config")
def config() -> None:
    pass


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(as_json: bool) -> None:
    """Each setting, its value and its source (flag > env > project > user > default),
    plus the directories sac uses."""
    from sac.config import ENV
    from sac.lookup import search_path
    from sac.paths import find_project, sac_home

    settings = context.settings()
    project = find_project().path  # the working directory's, or the nearest one above it
    dirs = {
        "SAC_HOME": str(sac_home()),
        "project": str(project) if project else None,
        "agent search path": [str(p) for p in search_path(settings)],
    }
    if as_json:
        echo_json(
            {"settings": settings.as_dict(), "directories": dirs, "config_files": [str(f) for f in settings.files]}
        )
        return
    from sac.cli.output import human

    rows = [(k, human(v["value"]), v["source"], ENV.get(k, "-")) for k, v in settings.as_dict().items()]
    click.echo(table(("SETTING", "VALUE", "SOURCE", "ENV"), rows))
    click.echo(f"\nSAC_HOME: {dirs['SAC_HOME']}")
    click.echo(f"project: {project or 'none (no .scitex/agent-container here or in a folder above)'}")
    for f in settings.files:
        click.echo(f"config file: {f}")
    click.echo("agent search path:")
    for p in dirs["agent search path"]:
        click.echo(f"  {p}")
