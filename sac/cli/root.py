"""The ``sac`` command as click sees it: the root group, whose command groups (COMMANDS) are
each imported only when used, and how failures are reported. sac.cli.main imports this
module for every command but a plain ``sac --help``, which it answers from the help cache."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

import sac

#: Built-in command groups: name -> (module, attribute, one-line help). The one line is the
#: only copy of each group's summary: `sac --help` lists it from here without importing the
#: group's module, and the module's ``@builtin_group(name)`` makes it the first line of the
#: group's own --help (tests/test_cli_help.py checks that the two agree).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "accounts": ("sac.cli.accounts", "accounts", "Stored credentials: list, save, delete, switch, status."),
    "agents": ("sac.cli.agents", "agents", "Check, start, stop and talk to agents."),
    "completion": ("sac.cli.completion", "completion", "Print the shell-completion script for bash, zsh or fish."),
    "config": ("sac.cli.config", "config", "Show settings and where each comes from."),
    "fleet": ("sac.cli.fleet", "fleet", "Agents on ssh hosts as one fleet: launch, status, sync."),
    "host": ("sac.cli.host", "host", "Machines over ssh (add, probe, install, exec), and peer control planes."),
    "image": ("sac.cli.image", "image", "Build and manage agent images: versions, rollback, sandboxes."),
    "listen": ("sac.cli.listen", "listen", "Serve the per-host HTTP control plane (bearer token, loopback)."),
    "model": ("sac.cli.model", "model", "The built-in scripted model (offline, for dry runs and tests)."),
    "peer": ("sac.cli.peer", "peer", "Post turns to agents here, on peer hosts, or at A2A URLs."),
    "plugins": ("sac.cli.plugins", "plugins", "List plugins and what they registered."),
    "spec": ("sac.cli.spec", "spec", "The spec.yaml schema and validation."),
}


def builtin_group(name: str, **kwargs: Any) -> Any:
    """``@click.group`` for the built-in group ``name``: its help is the summary in COMMANDS,
    then the function's docstring, if any, as the paragraphs below it. So the docstring of a
    built-in group holds only what follows the summary."""
    import inspect

    summary = COMMANDS[name][2]

    def decorate(f: Any) -> click.Group:
        body = inspect.getdoc(f)
        help_ = f"{summary}\n\n{body}" if body else summary
        return click.group(name, help=help_, short_help=summary, **kwargs)(f)

    return decorate


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (the pattern of click's docs).

    Plugin commands (``sac_register_commands``) are added when the group lists its
    commands or is asked for a name it does not know, so a plain ``sac agents ...``
    never pays for loading plugin commands.
    """

    def __init__(self, *args: Any, lazy_commands: dict[str, tuple[str, str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands
        self._plugin_commands_added = False
        self._help_width: int | None = None  # what click wrapped the last help to

    def _add_plugin_commands(self) -> None:
        if self._plugin_commands_added:
            return
        self._plugin_commands_added = True
        from sac.plugins import get_plugins

        plugins = get_plugins()
        plugins.add_commands(self)
        warn_plugins(plugins)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return sorted(set(self.lazy_commands) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_commands and name not in self.commands:
            import importlib

            module, attr, _ = self.lazy_commands[name]
            self.add_command(getattr(importlib.import_module(module), attr), name)
        if name not in self.commands:
            self._add_plugin_commands()
        return self.commands.get(name)

    def get_help(self, ctx: click.Context) -> str:
        from sac.cli.help_cache import help_key

        # the root's key before rendering: what changes meanwhile must not hide under it
        key = help_key() if ctx.parent is None else ""
        text = super().get_help(ctx)
        if ctx.parent is None:  # the root's help as `sac --help` prints it: sac.cli.main prints it next time
            from sac.cli.help_cache import width, write_help

            # only as wrapped for this terminal (not at a width click's test runner forces)
            if self._help_width == width():
                write_help(text + "\n", key)  # click.echo adds the newline
        return text

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._help_width = formatter.width
        super().format_help(ctx, formatter)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Built-in help text comes from COMMANDS and plugin commands from a cache, so
        # `sac --help` imports no command module and usually loads no plugin.
        rows = [(name, help_) for name, (_, _, help_) in self.lazy_commands.items()]
        rows += self._plugin_command_rows()
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def _plugin_command_rows(self) -> list[tuple[str, str]]:
        from sac.cli.help_cache import fingerprint, read, write

        key = fingerprint()
        rows = read(key)
        if rows is None:
            self._add_plugin_commands()
            rows = [(n, c.get_short_help_str(60)) for n, c in self.commands.items() if n not in self.lazy_commands]
            write(key, rows)
        return rows

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as e:
            if not reportable(e):
                raise
            ctx.exit(report(e))


def reportable(error: BaseException) -> bool:
    """Failures of the world that deserve one line, not a traceback: sac's own errors, OS
    errors (a missing binary, a permission), subprocess timeouts and runtime failures."""
    from sac.errors import SacError

    if isinstance(error, (click.exceptions.Exit, click.exceptions.Abort, click.ClickException)):
        return False  # click's own control flow (help, usage errors) is click's to print
    if isinstance(error, BrokenPipeError):
        return False  # the reader of our output left (`| head`): click ends quietly
    return isinstance(error, (SacError, OSError, RuntimeError)) or type(error).__module__ == "subprocess"


def report(error: Exception) -> int:
    """Print an error for people (a traceback only with SAC_DEBUG=1); its exit status.
    A SacError says what to do; any other failure of the world (a missing binary, a
    permission, a timeout) is one line with exit status 1."""
    from sac.errors import SacError

    if os.environ.get("SAC_DEBUG"):
        raise error
    if isinstance(error, SacError):
        click.echo(f"sac: error: {error.render()}", err=True)
        return error.exit_code
    click.echo(f"sac: error: {error}", err=True)
    return 1


def warn_plugins(plugins: Any) -> None:
    """Print each plugin warning once (a plugin that failed to import, a name clash)."""
    for message in plugins.warnings:
        click.echo(f"sac: warning: {message}", err=True)
    plugins.warnings.clear()


def show_version(verbose: bool, as_json: bool) -> None:
    """``--version``: one line; with ``--verbose`` (or ``--json``) what sac runs on: the pyz
    build and lock, the claude CLI and every package beside sac (sac/about.py)."""
    if not (verbose or as_json):
        click.echo(f"sac {sac.__version__}")
        return
    from sac import about

    info = about.describe()
    click.echo(json.dumps(info, indent=2) if as_json else about.render(info))


def command_tree(ctx: click.Context) -> list[tuple[str, str]]:
    """(usage, one-line help) of ``ctx``'s command and of every command below it, depth
    first, hidden ones left out. Imports every command module: for --help-recursive only."""
    cmd = ctx.command
    usage = " ".join([ctx.command_path, *cmd.collect_usage_pieces(ctx)])
    rows = [(usage, cmd.get_short_help_str(limit=200))]
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                rows += command_tree(click.Context(sub, info_name=name, parent=ctx))
    return rows


def help_recursive(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--help-recursive``: every command and subcommand, its usage and its one line."""
    if not value or ctx.resilient_parsing:
        return
    for usage, help_ in command_tree(ctx):
        click.echo(usage)
        if help_:
            click.echo(f"    {help_}")
    ctx.exit()


# --version is a plain flag handled by the group (not click's eager version_option), so the
# flags beside it (--verbose, --json) are parsed before it acts, in any order.
@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    invoke_without_command=True,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "-V",
    "--version",
    "version",
    is_flag=True,
    help="Show the version and exit; with --verbose (or --json) also the pyz build, its lock, the "
    "claude CLI and every package version.",
)
@click.option("-v", "--verbose", is_flag=True, help="With --version: everything sac runs on.")
@click.option(
    "--help-recursive",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=help_recursive,
    help="Show every command and subcommand, with its usage and one line, and exit.",
)
@click.option("--json", "as_json", is_flag=True, help="With --version: as JSON.")
@click.pass_context
def cli(ctx: click.Context, version: bool, verbose: bool, as_json: bool) -> None:
    """sac: one spec.yaml becomes one long-lived, sandboxed Claude Code agent.

    Agents live in folders named after them, each holding a spec.yaml:
    ./.scitex/agent-container/agents/NAME/ or $SAC_HOME/agents/NAME/
    ($SAC_HOME defaults to ~/.scitex/agent-container).

    Exit status: 0 ok, 1 something failed, 2 bad input. SAC_DEBUG=1 shows tracebacks.
    """
    if version:
        show_version(verbose, as_json)
        ctx.exit()
    if verbose or as_json:
        raise click.UsageError("--verbose and --json go with --version (commands take their own --json)")
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        ctx.exit()


def run() -> None:
    """Run the command line in sys.argv (sac.cli.main's work once it needs click)."""
    try:
        cli(prog_name="sac")
    except Exception as e:  # raised while click parsed arguments, e.g. building --help
        if not reportable(e):
            raise
        sys.exit(report(e))
