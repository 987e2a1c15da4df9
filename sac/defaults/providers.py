"""The built-in providers: ``anthropic`` (the default) and ``scripted`` (offline, for dry runs and tests)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sac_hookspecs import Agent, CheckResult, Provider, hookimpl
from sac_hookspecs.spec import ProviderConfig

#: Variables the claude CLI reads a key or token from, in the order it prefers them.
ANTHROPIC_KEY_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")


class AnthropicProvider(Provider):
    name = "anthropic"
    description = "Anthropic's API: an API key, an OAuth token, or your Claude login"

    def check(self, agent: Agent) -> list[CheckResult]:
        if agent.spec.claude.account:
            return [CheckResult(name="credentials", ok=True, detail=f"account {agent.spec.claude.account!r}")]
        for var in ANTHROPIC_KEY_VARS:
            if os.environ.get(var):
                return [CheckResult(name="credentials", ok=True, detail=f"${var} is set")]
        login = Path("~/.claude/.credentials.json").expanduser()
        if login.is_file():
            return [CheckResult(name="credentials", ok=True, detail=f"Claude login {login}")]
        return [
            CheckResult(
                name="credentials",
                ok=False,
                detail=f"none of {', '.join('$' + v for v in ANTHROPIC_KEY_VARS)} is set and there is no Claude login",
                fix="export ANTHROPIC_API_KEY, set spec.claude.account, or use provider: scripted for an offline run",
            )
        ]

    def environment(self, agent: Agent) -> dict[str, str]:
        return {var: os.environ[var] for var in ANTHROPIC_KEY_VARS if os.environ.get(var)}


class ScriptedProvider(Provider):
    name = "scripted"
    description = "a built-in offline model that plays a script (no network, no key)"

    def script_path(self, agent: Agent) -> Path | None:
        p = agent.spec.claude.provider
        if not (isinstance(p, ProviderConfig) and p.script):
            return None
        path = Path(p.script).expanduser()
        return path if path.is_absolute() else agent.spec_path.parent / path

    def environment(self, agent: Agent) -> dict[str, str]:
        """Start this runner's model server (a thread, gone with the runner)."""
        from sac.model.script import Script, load_script
        from sac.model.server import ModelServer

        path = self.script_path(agent)
        script = load_script(path) if path else Script()
        server = ModelServer(script, log=agent.runtime_dir / "model.log").start()
        return {
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": f"sac-scripted-{secrets.token_hex(8)}",
            "CLAUDE_CODE_MAX_RETRIES": "0",  # a scripted failure should fail now, not after retries
        }

    def check(self, agent: Agent) -> list[CheckResult]:
        path = self.script_path(agent)
        if path is None:
            return [CheckResult(name="model", ok=True, detail="offline scripted model, default script")]
        ok = path.is_file()
        return [
            CheckResult(
                name="model script",
                ok=ok,
                detail=str(path) if ok else f"{path} does not exist",
                fix="" if ok else "fix spec.claude.provider.script (relative paths start at the spec's folder)",
            )
        ]


@hookimpl
def sac_register_providers(register):
    register(AnthropicProvider())
    register(ScriptedProvider())
