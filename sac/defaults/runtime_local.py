"""The ``local`` runtime: the claude CLI runs as a host process, with no isolation."""

from __future__ import annotations

import os

from sac.claude_cli import find_claude
from sac_hookspecs import Agent, CheckResult, Instance, Launch, Runtime, hookimpl


class LocalRuntime(Runtime):
    name = "local"
    description = "the claude CLI as a host process (no isolation)"
    isolation = "none"
    priority = 0  # the fallback: any container runtime that is available wins

    def check(self, agent: Agent) -> list[CheckResult]:
        isolation = CheckResult(name="isolation", ok=True, detail="none: the agent's tools run on this host as you")
        cli = find_claude()
        if cli is None:
            found = CheckResult(
                name="claude CLI",
                ok=False,
                detail="not found (no bundled binary, none on PATH)",
                fix="use the full sac.pyz or the claude-agent-sdk wheel (both bundle it), "
                "put `claude` on PATH, or set SAC_CLAUDE_CLI=/path/to/claude",
            )
        elif not os.access(cli, os.X_OK):
            found = CheckResult(name="claude CLI", ok=False, detail=f"{cli} is not executable", fix=f"chmod +x {cli}")
        else:
            found = CheckResult(name="claude CLI", ok=True, detail=str(cli))
        return [found, isolation]

    def start(self, agent: Agent, launch: Launch) -> Instance:
        return Instance(
            runtime=self.name,
            id="",
            cli=launch.claude_cli,
            home=launch.home,
            workdir=launch.workdir,
            isolation="none",
            env={"HOME": launch.home},
        )

    def command(self, agent: Agent, instance: Instance, args: list[str], env_names: list[str]) -> list[str]:
        return [instance.cli, *args]  # a host process inherits the environment as it is


@hookimpl
def sac_register_runtimes(register):
    register(LocalRuntime())
