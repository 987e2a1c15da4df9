"""``sac plugins ...``."""

from __future__ import annotations

import click

from sac.cli import context
from sac.cli.output import echo_json, table
from sac.cli.root import builtin_group


@builtin_group("plugins")
def plugins() -> None:
    pass


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(as_json: bool) -> None:
    """Every loaded plugin: its distribution, the hooks it implements, what it registered.

    SAC_PLUGINS=name,... limits which entry-point plugins load; SAC_TRACE_HOOKS=1
    prints every hook call.

    \b
    Examples:
      sac plugins list
      sac plugins list --json
    """
    pm = context.plugins()
    registered = pm.registered_by()
    context.warn_plugins(pm)
    if as_json:
        echo_json(
            [
                {
                    "name": i.name,
                    "module": i.module,
                    "distribution": i.distribution,
                    "version": i.version,
                    "default": i.default,
                    "hooks": i.hooks,
                    "registered": registered.get(i.name, {}),
                    "error": i.error,
                }
                for i in pm.infos.values()
            ]
        )
        return
    rows = []
    for i in pm.infos.values():
        what = "; ".join(
            f"{kind.replace('_', ' ')}: {', '.join(names)}" for kind, names in registered.get(i.name, {}).items()
        )
        rows.append((i.name, i.distribution, i.version, f"FAILED: {i.error}" if i.error else what or "-"))
    click.echo(table(("PLUGIN", "DISTRIBUTION", "VERSION", "REGISTERED"), rows))
