"""``sac image ...``: container images, built by the runtime plugins."""

from __future__ import annotations

import click

from sac.cli import context
from sac.errors import SacError


@click.group()
def image() -> None:
    """Build and manage agent images."""


@image.command("build")
@click.argument("target", default="base")
@click.option("--runtime", help="The runtime to build for (default: the configured or best available one).")
def build(target: str, runtime: str | None) -> None:
    """Build an image locally (TARGET: base). No registry is needed: the base image is
    bootstrapped from the Debian mirror this host uses."""
    from sac.agent import pick_runtime

    plugins, settings = context.plugins(), context.settings(default_runtime=runtime)
    rt = pick_runtime(settings.default_runtime, plugins)
    click.echo(f"building {target} for {rt.name}", err=True)
    try:
        ref = rt.build_image(target, lambda line: click.echo(f"  {line}", err=True))
    except (NotImplementedError, ValueError, RuntimeError, OSError) as e:
        raise SacError(f"image build failed: {e}") from None
    click.echo(ref)
