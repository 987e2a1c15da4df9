"""``sac completion bash`` (or zsh, fish): click's shell-completion script for sac."""

from __future__ import annotations

import click

from sac.cli.root import COMMANDS

SHELLS = ("bash", "zsh", "fish")


@click.command(
    "completion",
    help=COMMANDS["completion"][2]
    + """

\b
Examples:
  eval "$(sac completion bash)"     (in ~/.bashrc)
  eval "$(sac completion zsh)"      (in ~/.zshrc)
  sac completion fish > ~/.config/fish/completions/sac.fish

The script runs `sac` to complete, so sac must be on PATH under that name (for the pyz, a
wrapper script named sac).""",
    short_help=COMMANDS["completion"][2],
)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    from click.shell_completion import get_completion_class

    from sac.cli.root import cli

    cls = get_completion_class(shell)
    assert cls is not None  # every name in SHELLS is one of click's
    click.echo(cls(cli, {}, "sac", "_SAC_COMPLETE").source())
