"""Anthropic-compatible providers: DeepSeek, Xiaomi MiMo, LiteLLM, and any gateway.

Each is a base URL, the variable that holds its key, and default model names. The
``gateway`` provider handles an inline ``provider: {base_url: ..., auth_token_env: ...}``.
"""

from __future__ import annotations

import os
from typing import ClassVar

from sac_hookspecs import Agent, CheckResult, Provider, hookimpl
from sac_hookspecs.spec import ProviderConfig


class CompatibleProvider(Provider):
    """A vendor endpoint that speaks the Anthropic Messages API."""

    base_url: ClassVar[str] = ""
    key_env: ClassVar[str] = ""
    model: ClassVar[str] = ""
    small_model: ClassVar[str] = ""

    def options(self, agent: Agent) -> ProviderConfig:
        p = agent.spec.claude.provider
        return p if isinstance(p, ProviderConfig) else ProviderConfig()

    def check(self, agent: Agent) -> list[CheckResult]:
        var = self.options(agent).auth_token_env or self.key_env
        if not var:
            return [CheckResult(name="credentials", ok=True, detail="no key needed")]
        if os.environ.get(var):
            return [CheckResult(name="credentials", ok=True, detail=f"${var} is set")]
        return [
            CheckResult(
                name="credentials",
                ok=False,
                detail=f"${var} is not set",
                fix=f"export {var}=<your key> before starting the agent",
            )
        ]


class DeepSeek(CompatibleProvider):
    name = "deepseek"
    description = "DeepSeek's Anthropic-compatible API"
    base_url = "https://api.deepseek.com/anthropic"
    key_env = "DEEPSEEK_API_KEY"
    model = "deepseek-v4-pro"
    small_model = "deepseek-flash"


class Mimo(CompatibleProvider):
    name = "mimo"
    aliases = ("xiaomi",)
    description = "Xiaomi MiMo's Anthropic-compatible API"
    base_url = "https://api.xiaomimimo.com/anthropic"
    key_env = "MIMO_API_KEY"
    model = "mimo-v2.5-pro"
    small_model = "mimo-v2.5"


class LiteLLM(CompatibleProvider):
    name = "litellm"
    description = "a LiteLLM proxy (its Anthropic /v1/messages route)"
    base_url = "http://127.0.0.1:4000"
    key_env = "LITELLM_API_KEY"


class Gateway(CompatibleProvider):
    name = "gateway"
    description = "any Anthropic-compatible endpoint: provider: {base_url, auth_token_env}"

    def check(self, agent: Agent) -> list[CheckResult]:
        opts = self.options(agent)
        if not opts.base_url:
            return [
                CheckResult(
                    name="base URL", ok=False, detail="no base_url", fix="set spec.claude.provider.base_url"
                )
            ]
        rows = [CheckResult(name="base URL", ok=True, detail=opts.base_url)]
        return rows + (super().check(agent) if opts.auth_token_env else [])


@hookimpl
def sac_register_providers(register):
    for provider in (DeepSeek(), Mimo(), LiteLLM(), Gateway()):
        register(provider)
