"""Anthropic-compatible providers: DeepSeek, Xiaomi MiMo, LiteLLM, and any gateway.

Each is a base URL, the variable that holds its key, how the key is sent, and the models
that stand for Claude's aliases. Users override any of them in config.yaml::

    providers:
      deepseek: {base_url: "https://deepseek.internal/anthropic", model: deepseek-v4-pro}

The ``gateway`` provider handles an inline ``provider: {base_url: ..., auth_token_env: ...}``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from sac_hookspecs import Agent, CheckResult, Provider, ProviderContext, hookimpl

ALIASES = ("opus", "sonnet", "haiku")


def vendor_model(spec_model: str, model: str | None, small: str | None) -> str:
    """The model name to send: Claude's aliases map to the vendor's models; any other
    name (a vendor model, a full Claude id the vendor maps itself) passes through."""
    base = spec_model.removesuffix("[1m]")
    if base == "haiku":
        return small or model or spec_model
    if base in ALIASES:
        return model or spec_model
    return spec_model


class CompatibleProvider(Provider):
    """A vendor endpoint that speaks the Anthropic Messages API."""

    base_url: ClassVar[str | None] = None
    model: ClassVar[str | None] = None
    small_model: ClassVar[str | None] = None
    #: how the key travels: the x-api-key header (ANTHROPIC_API_KEY) or a bearer token (ANTHROPIC_AUTH_TOKEN)
    auth: ClassVar[Literal["x-api-key", "bearer"]] = "bearer"

    def url(self, ctx: ProviderContext) -> str | None:
        return ctx.options.base_url or self.base_url

    def check(self, agent: Agent, ctx: ProviderContext) -> list[CheckResult]:
        rows = []
        url = self.url(ctx)
        if not url:
            rows.append(
                CheckResult(
                    name="base URL",
                    ok=False,
                    detail="none given",
                    fix="set spec.claude.provider.base_url, or providers.NAME.base_url in config",
                )
            )
        elif not url.startswith(("http://", "https://")):
            rows.append(
                CheckResult(
                    name="base URL",
                    ok=False,
                    detail=f"{url!r} is not an http(s) URL",
                    fix="write the URL with its scheme, e.g. https://host/anthropic",
                )
            )
        else:
            rows.append(CheckResult(name="base URL", ok=True, detail=url))
        if ctx.secret:
            rows.append(CheckResult(name="credentials", ok=True, detail=ctx.secret_source))
        elif ctx.secret_source != "no key needed":
            var = ctx.options.auth_token_env or self.key_env
            fix = (
                "save it with `sac accounts save NAME`, or fix spec.claude.account"
                if ctx.account
                else f"export {var}=<your key>"
            )
            rows.append(CheckResult(name="credentials", ok=False, detail=f"no key: {ctx.secret_source}", fix=fix))
        return rows

    def environment(self, agent: Agent, ctx: ProviderContext) -> dict[str, str]:
        opts = ctx.options
        model = opts.model or self.model
        small = opts.small_model or self.small_model
        env = {"ANTHROPIC_BASE_URL": self.url(ctx) or ""}
        if ctx.secret:
            env["ANTHROPIC_API_KEY" if self.auth == "x-api-key" else "ANTHROPIC_AUTH_TOKEN"] = ctx.secret
        elif self.key_env is None:
            # A gateway that needs no key: the CLI still wants a credential or it answers every
            # turn "Not logged in" (review D23). A placeholder the gateway may ignore.
            env["ANTHROPIC_AUTH_TOKEN"] = NO_KEY
        env["ANTHROPIC_MODEL"] = vendor_model(agent.spec.claude.model, model, small)
        if model:
            env["ANTHROPIC_DEFAULT_OPUS_MODEL"] = env["ANTHROPIC_DEFAULT_SONNET_MODEL"] = model
        if small or model:
            env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] = env["ANTHROPIC_SMALL_FAST_MODEL"] = small or model or ""
        if opts.extra_headers:
            env["ANTHROPIC_CUSTOM_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in opts.extra_headers.items())
        return env


class DeepSeek(CompatibleProvider):
    name = "deepseek"
    description = "DeepSeek's Anthropic-compatible API"
    base_url = "https://api.deepseek.com/anthropic"
    key_env = "DEEPSEEK_API_KEY"
    model = "deepseek-v4-pro"
    small_model = "deepseek-flash"
    auth = "x-api-key"


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


NO_KEY = "sac-no-key"


class Gateway(CompatibleProvider):
    name = "gateway"
    description = "any Anthropic-compatible endpoint: provider: {base_url, auth_token_env}"
    key_env = None  # a gateway needs a key only when the spec names its variable
    inline = True


@hookimpl
def sac_register_providers(register):
    for provider in (DeepSeek(), Mimo(), LiteLLM(), Gateway()):
        register(provider)
