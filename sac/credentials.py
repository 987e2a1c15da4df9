"""Resolving a provider's secret: from an account in a credential store, or a variable.

The secret lives in the caller's memory only: it goes to the provider, which hands it to
the CLI's environment. It is never printed; messages name where it was looked for.
"""

from __future__ import annotations

import os
from pathlib import Path

from sac.config import Settings
from sac.plugins import Plugins
from sac_hookspecs import Agent, Provider, ProviderContext
from sac_hookspecs.spec import ProviderConfig


def merged_options(provider: Provider, inline: ProviderConfig | str | None, settings: Settings) -> ProviderConfig:
    """The config's ``providers.NAME`` (by name or alias) overridden by the spec's inline options."""
    import msgspec

    names = (provider.name, *provider.aliases)
    base = next((settings.providers[n] for n in names if n in settings.providers), ProviderConfig())
    if not isinstance(inline, ProviderConfig):
        return base
    given = {k: v for k, v in msgspec.structs.asdict(inline).items() if v not in (None, {}, [])}
    return msgspec.structs.replace(base, **given)


def account_ref(ref: str, settings: Settings) -> tuple[str, str]:
    """``store:name`` or ``name`` (in the configured store) -> (store, name)."""
    store, sep, name = ref.partition(":")
    return (store, name) if sep else (settings.credential_store, ref)


def resolve_secret(
    agent: Agent, provider: Provider, options: ProviderConfig, settings: Settings, plugins: Plugins
) -> tuple[str | None, str, str | None]:
    """(secret or None, where it was looked for, the account name if one was used)."""
    account = agent.spec.claude.account
    if not account and not options.auth_token_env and not provider.inline:
        # a provider's default account; never for an inline gateway (one name, any URL) nor
        # over a variable the spec names itself
        account = settings.default_accounts.get(provider.name)
    if account:
        store_name, key = account_ref(account, settings)
        store = plugins.credential_stores.get(store_name)
        value = store.get(key)
        return (value or None), f"account {key!r} in the {store_name} store" + ("" if value else " (not found)"), key
    var = options.auth_token_env or provider.key_env
    if var is None:
        return None, "no key needed", None
    value = os.environ.get(var)
    return (value or None), f"${var}" + (" (empty)" if value == "" else "" if value else " (not set)"), None


def provider_context(agent: Agent, provider: Provider, settings: Settings, plugins: Plugins) -> ProviderContext:
    options = merged_options(provider, agent.spec.claude.provider, settings)
    secret, source, account = resolve_secret(agent, provider, options, settings, plugins)
    return ProviderContext(
        options=options,
        secret=secret,
        secret_source=source,
        account=account,
        home=str(Path(agent.runtime_dir) / "home"),
    )


def secret_variables(plugins, settings, ctx) -> list[str]:
    """Every variable sac knows to hold a credential: each registered provider's key variable,
    each configured ``auth_token_env``, the agent's own, and sac's client tokens. The runner
    blanks them for the CLI (and so for the agent's tools) unless its provider sets them
    (review D12: a host's DeepSeek key reached an agent on another provider)."""
    names = {p.key_env for _, p in plugins.providers.items() if p.key_env}
    names |= {c.auth_token_env for c in settings.providers.values() if c.auth_token_env}
    names |= {ctx.options.auth_token_env} if ctx.options.auth_token_env else set()
    names |= {"SAC_A2A_TOKEN"}
    return sorted(names)
