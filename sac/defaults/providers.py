"""The built-in providers: ``anthropic`` (the default) and ``scripted`` (offline, for dry runs and tests)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sac_hookspecs import Agent, CheckResult, Provider, ProviderContext, hookimpl
from sac_hookspecs.toolkit.nofollow import write_file

#: Other variables the claude CLI takes Anthropic credentials from.
OTHER_KEY_VARS = ("ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
LOGIN_FILE = Path("~/.claude/.credentials.json")


class AnthropicProvider(Provider):
    name = "anthropic"
    description = "Anthropic's API: an API key, an OAuth token, or your Claude login"
    key_env = "ANTHROPIC_API_KEY"

    def _found(self, ctx: ProviderContext) -> str | None:
        if ctx.secret:
            return ctx.secret_source
        if ctx.account:
            return None  # a named account that is missing is an error, not a fallback
        for var in OTHER_KEY_VARS:
            if os.environ.get(var):
                return f"${var}"
        login = LOGIN_FILE.expanduser()
        return f"your Claude login ({login})" if login.is_file() else None

    def check(self, agent: Agent, ctx: ProviderContext) -> list[CheckResult]:
        found = self._found(ctx)
        if found:
            return [CheckResult(name="credentials", ok=True, detail=found)]
        return [
            CheckResult(
                name="credentials",
                ok=False,
                detail=f"no credentials: {ctx.secret_source}, and none of ${', $'.join(OTHER_KEY_VARS)} "
                "nor a Claude login",
                fix="export ANTHROPIC_API_KEY, save one with `sac accounts save`, or use provider: scripted offline",
            )
        ]

    def environment(self, agent: Agent, ctx: ProviderContext) -> dict[str, str]:
        env = {"ANTHROPIC_BASE_URL": ctx.options.base_url} if ctx.options.base_url else {}
        if ctx.options.model:
            env["ANTHROPIC_MODEL"] = ctx.options.model
        # Into the agent's HOME (bind-mounted into its container): never through a link.
        credentials = ".claude/.credentials.json"
        if ctx.secret and ctx.secret.lstrip().startswith("{"):  # a saved Claude login
            write_file(Path(ctx.home), credentials, ctx.secret.encode(), mode=0o600, dir_mode=0o700)
        elif ctx.secret:
            env["ANTHROPIC_API_KEY"] = ctx.secret
        elif not ctx.account:
            env.update({v: os.environ[v] for v in OTHER_KEY_VARS if os.environ.get(v)})
            login = LOGIN_FILE.expanduser()
            if not env.keys() & set(OTHER_KEY_VARS) and login.is_file():
                write_file(Path(ctx.home), credentials, login.read_bytes(), mode=0o600, dir_mode=0o700)
        return env


class ScriptedProvider(Provider):
    name = "scripted"
    description = "a built-in offline model that plays a script (no network, no key)"
    bills = False  # the CLI would price its tokens as Claude's

    def script_path(self, agent: Agent, ctx: ProviderContext) -> Path | None:
        if not ctx.options.script:
            return None
        path = Path(ctx.options.script).expanduser()
        return path if path.is_absolute() else agent.spec_path.parent / path

    def environment(self, agent: Agent, ctx: ProviderContext) -> dict[str, str]:
        """Start this runner's model server (a thread, gone with the runner)."""
        from sac.model.script import Script, load_script
        from sac.model.server import ModelServer

        path = self.script_path(agent, ctx)
        script = load_script(path) if path else Script()
        server = ModelServer(script, log=agent.runtime_dir / "model.log").start()
        return {
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": f"sac-scripted-{secrets.token_hex(8)}",
            "CLAUDE_CODE_MAX_RETRIES": "0",  # a scripted failure should fail now, not after retries
        }

    def check(self, agent: Agent, ctx: ProviderContext) -> list[CheckResult]:
        path = self.script_path(agent, ctx)
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
