"""The ``sac`` command's entry point (the console script, ``python -m sac``, the pyz).

Importing click costs more than starting the interpreter, so this module imports nothing
but ``sys``: ``sac --help`` prints the help a previous run rendered while nothing it shows
can have changed (sac/cli/help_cache.py), and everything else goes to click in
sac/cli/root.py, whose command groups are each imported only when used.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["_runner"]:  # sac.lifecycle.RUNNER_COMMAND: a runner, not the CLI (nor click)
        from sac.runner.entry import main as runner

        runner(sys.argv[2:])
    if sys.argv[1:2] == ["_forkserver"]:  # sac.lifecycle.FORKSERVER_COMMAND: the runner template
        from sac.runner.forkserver import serve

        serve(sys.argv[2])
        sys.exit(0)
    if sys.argv[1:] in (["--help"], ["-h"]):
        from sac.cli import help_cache

        text = help_cache.read_help()
        if text is not None:
            help_cache.print_help(text)
            return
    from sac.cli.root import run

    run()
