"""``sac model ...``: the built-in offline model."""

from __future__ import annotations

from pathlib import Path

import click

from sac.cli import builtin_group


@builtin_group("model")
def model() -> None:
    pass


@model.command("serve")
@click.option(
    "--script", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A script of rules (YAML)."
)
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--log", "log", type=click.Path(dir_okay=False, path_type=Path), help="Append each request as a JSON line."
)
def serve(script: Path | None, port: int, log: Path | None) -> None:
    """Serve an Anthropic Messages API on 127.0.0.1 that plays SCRIPT.

    Point any claude CLI at it: ANTHROPIC_BASE_URL=<printed URL> ANTHROPIC_API_KEY=x.
    """
    import time

    from sac.errors import UsageError
    from sac.model.script import Script, load_script
    from sac.model.server import ModelServer

    if log is not None:  # fail now, not with a traceback on every request later
        try:
            with open(log, "a"):
                pass
        except OSError as e:
            raise UsageError(f"--log {log}: cannot write it ({e.strerror})") from None

    server = ModelServer(load_script(script) if script else Script(), port=port, log=log).start()
    click.echo(server.url, nl=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
