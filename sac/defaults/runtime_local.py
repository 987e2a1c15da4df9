"""The ``local`` runtime: the claude CLI runs as a host process, with no isolation."""

from __future__ import annotations

import os

from sac_hookspecs import Agent, CheckResult, Runtime, hookimpl

from sac.claude_cli import find_claude


class LocalRuntime(Runtime):
    name = "local"
    description = "the claude CLI as a host process (no isolation)"
    isolation = "none"
    priority = 0  # the fallback: any container runtime that is available wins

    def check(self, agent: Agent) -> list[CheckResult]:
        cli = find_claude()
        if cli is None:
            return [
                CheckResult(
                    name="claude CLI",
                    ok=False,
                    detail="not found (not bundled, not on PATH)",
                    fix="pip install claude-agent-sdk (it bundles the CLI), or set SAC_CLAUDE_CLI=/path/to/claude",
                )
            ]
        ok = os.access(cli, os.X_OK)
        return [
            CheckResult(
                name="claude CLI",
                ok=ok,
                detail=str(cli) if ok else f"{cli} is not executable",
                fix="" if ok else f"chmod +x {cli}",
            ),
            CheckResult(name="isolation", ok=True, detail="none: the agent's tools run on this host as you"),
        ]


@hookimpl
def sac_register_runtimes(register):
    register(LocalRuntime())
