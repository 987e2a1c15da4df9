"""``sac config ...``."""

from __future__ import annotations

import click

from sac.cli import context
from sac.cli.output import echo_json, table
from sac.cli.root import builtin_group


@builtin_group("config")
def config() -> None:
    pass


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(as_json: bool) -> None:
    """Each setting, its value and its source (flag > env > project > user > default), what
    an unset setting means here (the runtime sac would pick), the config files it looked for,
    and the directories sac uses.

    \b
    Examples:
      sac config show
      sac config show --json | jq .automatic
    """
    from sac.config import ENV, config_files
    from sac.lookup import search_path
    from sac.paths import find_project, is_there, sac_home

    settings = context.settings()
    project = find_project().path  # the working directory's, or the nearest one above it
    searched = [str(p) for p in search_path(settings)]
    dirs = {"SAC_HOME": str(sac_home()), "project": str(project) if project else None, "agent search path": searched}
    looked = [
        {"file": str(path), "role": label, "found": is_there(path, directory=False)} for label, path in config_files()
    ]
    automatic = _automatic(settings)
    if as_json:
        echo_json(
            {
                "settings": settings.as_dict(),
                "automatic": automatic,
                "directories": dirs,
                "config_files": [str(f) for f in settings.files],
                "config_files_looked_for": looked,
            }
        )
        return
    from sac.cli.output import human

    rows = []
    for k, v in settings.as_dict().items():
        value = human(v["value"])
        if k in automatic:
            value = f"{value} (automatic: {automatic[k]})"
        rows.append((k, value, v["source"], ENV.get(k, "-")))
    click.echo(table(("SETTING", "VALUE", "SOURCE", "ENV"), rows))
    click.echo(f"\nSAC_HOME: {dirs['SAC_HOME']}")
    click.echo(f"project: {project or 'none (no .scitex/agent-container here or in a folder above)'}")
    click.echo("config files:")
    for f in looked:
        click.echo(f"  {f['file']} ({f['role']}: {'read' if f['found'] else 'not there'})")
    click.echo("agent search path:")
    for p in searched:
        click.echo(f"  {p}")


def _automatic(settings) -> dict[str, str]:
    """What an unset setting means on this host: ``default_runtime`` unset picks the best
    available runtime (probed now, as a start would)."""
    if settings.default_runtime:
        return {}
    from sac.agent import pick_runtime
    from sac.errors import SacError

    try:
        return {"default_runtime": f"{pick_runtime(None, context.plugins()).name}, the best available here"}
    except SacError as e:
        return {"default_runtime": f"none available ({e.message.splitlines()[0]})"}
