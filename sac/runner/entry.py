"""The runner's own entry point: ``python -m sac.runner SPEC [--runtime R] [--resume]
[--parent P]`` (``sac.pyz _runner ...`` from the zipapp).

``sac.lifecycle`` decides whether and how an agent starts (the broker, the preflight, a
runner already there, resuming after a crash) and then either spawns this entry point
detached or calls :func:`run` in its own process (``--foreground``). Nothing here decides
anything: it assembles a :class:`~sac.runner.runner.Runner` from the agent's spec, its
plugins and the settings, and runs it until it stops. Its output is the runner's log.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any


def run(
    agent: Any,
    plugins: Any,
    settings: Any,
    *,
    resume: bool,
    parent: str | None,
    echo: Callable,
    runtime: str | None = None,
) -> int:
    """Run ``agent``'s runner in this process until it stops; its exit status."""
    import asyncio

    from sac.agent import choose_runtime, provider_name
    from sac.claude_cli import find_claude
    from sac.credentials import provider_context, secret_variables
    from sac.errors import SacError
    from sac.runner.runner import Runner

    chosen = choose_runtime(agent, plugins, settings, override=runtime)
    provider = plugins.providers.get(provider_name(agent.spec, settings, plugins))
    ctx = provider_context(agent, provider, settings, plugins)
    cli = find_claude()
    if cli is None:
        raise SacError("the claude CLI was not found", hint="set SAC_CLAUDE_CLI or use the full sac.pyz")
    os.environ["CLAUDE_AGENT_SDK_SKIP_VERSION_CHECK"] = "1"  # the wrapper is not the CLI
    placed, resubmit = None, None
    from sac import placing

    if (where := placing.in_a_job()) is not None:  # in a placement's job (a Slurm job)
        os.environ.pop(placing.PLACEMENT_ENV)  # for this runner only, not a runner its agent starts
        placement = placing.get_placement(plugins, where)
        here = placement.here()
        if here is None:
            raise SacError(f"{placing.PLACEMENT_ENV}={where}, but this process runs in no {where} job")
        placed = (placement, here)
        resume = resume or here.resumed
        resubmit = placing.resubmitter(agent, plugins, where, runtime)
    runner = Runner(
        agent,
        chosen,
        provider,
        ctx,
        claude_cli=str(cli),
        transports=[t for _, t in plugins.transports.items()],
        resume=resume,
        parent=parent,
        echo=echo,
        blank=secret_variables(plugins, settings, ctx),
        placed=placed,
        resubmit=resubmit,
    )
    return asyncio.run(runner.run())


def main(argv: list[str] | None = None) -> None:
    """Parse the runner's arguments (sac.lifecycle.spawn_runner writes them), run it, exit."""
    parser = argparse.ArgumentParser(prog="python -m sac.runner", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="the agent's spec.yaml")
    parser.add_argument("--runtime", help="run on this runtime, whatever the spec says")
    parser.add_argument("--resume", action="store_true", help="go on with the agent's last session")
    parser.add_argument("--parent", help="the agent that asked for this one (lineage)")
    args = parser.parse_args(argv)

    from sac.agent import load_agent
    from sac.config import load_settings
    from sac.errors import SacError
    from sac.plugins import get_plugins

    def echo(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        plugins, settings = get_plugins(), load_settings()
        agent = load_agent(args.spec, plugins, settings)
        code = run(agent, plugins, settings, resume=args.resume, parent=args.parent, echo=echo, runtime=args.runtime)
    except SacError as e:
        echo(f"sac: error: {e.render()}")
        code = e.exit_code
    sys.exit(code)
