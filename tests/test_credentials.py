"""sac.credentials: which secret a provider gets, from where, and with which options.

Real parts: the installed plugins (the core's anthropic/scripted providers and file/env
stores, sac-provider-deepseek's deepseek, mimo alias xiaomi, and the inline gateway), a real
config.yaml and spec.yaml in a tmp SAC_HOME, real 0600 files in the file store."""

from __future__ import annotations

import pytest
import yaml

from sac.agent import load_agent, provider_name
from sac.config import load_settings
from sac.credentials import account_ref, merged_options, provider_context
from sac.errors import NotFound
from sac.plugins import Plugins

KEY_VARS = ("ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "MIMO_API_KEY", "MY_TOKEN", "MY_VAR")


@pytest.fixture
def world(home, monkeypatch):
    """write(claude=..., config=...) -> the provider context of agent ``a`` as the runner gets it."""
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    plugins = Plugins()

    def write(claude: dict, config: dict | None = None):
        spec = home / "agents" / "a" / "spec.yaml"
        spec.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "apiVersion": "scitex-agent-container/v3",
            "kind": "Agent",
            "spec": {"runtime": "local", "claude": claude},
        }
        spec.write_text(yaml.safe_dump(doc))
        (home / "config.yaml").write_text(yaml.safe_dump(config or {}))
        settings = load_settings()
        agent = load_agent("a", plugins, settings)
        provider = plugins.providers.get(provider_name(agent.spec, settings, plugins))
        return provider, provider_context(agent, provider, settings, plugins)

    write.plugins = plugins
    return write


def test_a_key_from_the_providers_variable(world, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-ds-1234")
    provider, ctx = world({"provider": "deepseek"})
    assert provider.name == "deepseek"
    assert (ctx.secret, ctx.secret_source, ctx.account) == ("sk-ds-1234", "$DEEPSEEK_API_KEY", None)


@pytest.mark.parametrize("value, said", [(None, "(not set)"), ("", "(empty)")], ids=["unset", "empty"])
def test_a_missing_key_says_where_it_was_looked_for(world, monkeypatch, value, said):
    if value is not None:
        monkeypatch.setenv("DEEPSEEK_API_KEY", value)
    _, ctx = world({"provider": "deepseek"})
    assert ctx.secret is None
    assert ctx.secret_source == f"$DEEPSEEK_API_KEY {said}"


def test_auth_token_env_of_the_config_or_the_spec_replaces_the_providers_variable(world, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "from-the-default-variable")
    monkeypatch.setenv("MY_TOKEN", "from-my-token")
    monkeypatch.setenv("MY_VAR", "from-my-var")
    config = {"providers": {"deepseek": {"auth_token_env": "MY_TOKEN"}}}
    _, ctx = world({"provider": "deepseek"}, config)
    assert (ctx.secret, ctx.secret_source) == ("from-my-token", "$MY_TOKEN")
    _, ctx = world({"provider": {"name": "deepseek", "auth_token_env": "MY_VAR"}}, config)
    assert (ctx.secret, ctx.secret_source) == ("from-my-var", "$MY_VAR")


def test_an_account_in_the_file_store(world, home, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "not-this-one")
    world.plugins.credential_stores.get("file").put("work", "sk-stored-9999")
    assert (home / "credentials" / "work").read_text() == "sk-stored-9999"
    _, ctx = world({"provider": "deepseek", "account": "work"})
    assert (ctx.secret, ctx.account) == ("sk-stored-9999", "work")
    assert ctx.secret_source == "account 'work' in the file store"
    assert "sk-stored" not in ctx.secret_source  # messages name where, never what


def test_a_missing_account_is_no_secret_and_no_fallback_to_the_variable(world, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "not-this-one")
    _, ctx = world({"provider": "deepseek", "account": "nobody"})
    assert (ctx.secret, ctx.account) == (None, "nobody")
    assert ctx.secret_source == "account 'nobody' in the file store (not found)"


def test_an_account_names_its_store(world, monkeypatch):
    monkeypatch.setenv("MY_VAR", "from-the-env-store")
    _, ctx = world({"provider": "deepseek", "account": "env:MY_VAR"})
    assert (ctx.secret, ctx.secret_source, ctx.account) == (
        "from-the-env-store",
        "account 'MY_VAR' in the env store",
        "MY_VAR",
    )
    with pytest.raises(NotFound, match="vault"):
        world({"provider": "deepseek", "account": "vault:x"})


def test_the_configured_store_holds_accounts_without_a_store_name(world, monkeypatch):
    monkeypatch.setenv("MY_VAR", "from-env")
    _, ctx = world({"provider": "deepseek", "account": "MY_VAR"}, {"credential_store": "env"})
    assert (ctx.secret, ctx.secret_source) == ("from-env", "account 'MY_VAR' in the env store")


def test_a_default_account_is_per_provider(world, monkeypatch):
    """`sac accounts switch`: the default account of deepseek serves deepseek agents; a key saved
    for one vendor is never sent to another."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-host")
    world.plugins.credential_stores.get("file").put("ds", "sk-ds-saved")
    config = {"default_accounts": {"deepseek": "ds"}}
    _, ctx = world({"provider": "deepseek"}, config)
    assert (ctx.secret, ctx.account) == ("sk-ds-saved", "ds")
    _, ctx = world({"provider": "anthropic"}, config)
    assert (ctx.secret, ctx.secret_source, ctx.account) == ("sk-ant-host", "$ANTHROPIC_API_KEY", None)


def test_a_default_account_yields_to_a_variable_the_spec_or_config_names(world, monkeypatch):
    monkeypatch.setenv("MY_TOKEN", "from-my-token")
    world.plugins.credential_stores.get("file").put("ds", "sk-ds-saved")
    config = {"default_accounts": {"deepseek": "ds"}, "providers": {"deepseek": {"auth_token_env": "MY_TOKEN"}}}
    _, ctx = world({"provider": "deepseek"}, config)
    assert (ctx.secret, ctx.account) == ("from-my-token", None)


def test_an_inline_gateway_never_takes_a_default_account(world, monkeypatch):
    """One provider name, any URL: a saved key must not follow a spec to a gateway it names."""
    world.plugins.credential_stores.get("file").put("gw", "sk-gateway-saved")
    config = {"default_accounts": {"gateway": "gw"}}
    provider, ctx = world({"provider": {"base_url": "http://127.0.0.1:9/"}}, config)
    assert provider.inline and provider.name == "gateway"
    assert (ctx.secret, ctx.secret_source, ctx.account) == (None, "no key needed", None)
    monkeypatch.setenv("MY_TOKEN", "gw-token")
    _, ctx = world({"provider": {"base_url": "http://127.0.0.1:9/", "auth_token_env": "MY_TOKEN"}}, config)
    assert (ctx.secret, ctx.secret_source, ctx.account) == ("gw-token", "$MY_TOKEN", None)


def test_options_merge_the_config_by_name_or_alias_under_the_spec(world):
    config = {"providers": {"xiaomi": {"base_url": "http://cfg/", "model": "m-config", "small_model": "s-config"}}}
    provider, ctx = world({"provider": {"name": "mimo", "model": "m-spec"}}, config)
    assert provider.name == "mimo"
    assert (ctx.options.base_url, ctx.options.model, ctx.options.small_model) == ("http://cfg/", "m-spec", "s-config")
    _, ctx = world({"provider": "mimo"}, config)
    assert (ctx.options.base_url, ctx.options.model) == ("http://cfg/", "m-config")
    both = {"providers": {"xiaomi": {"model": "by-alias"}, "mimo": {"model": "by-name"}}}
    _, ctx = world({"provider": "mimo"}, both)
    assert ctx.options.model == "by-name"  # the provider's own name first
    _, ctx = world({"provider": "deepseek"}, config)
    assert (ctx.options.base_url, ctx.options.model) == (None, None)  # another provider's options stay there


def test_empty_spec_options_do_not_blank_the_config(world):
    provider = world.plugins.providers.get("deepseek")
    settings_config = {"providers": {"deepseek": {"model": "m", "extra_headers": {"X-A": "1"}}}}
    world({"provider": "deepseek"}, settings_config)  # writes config.yaml
    from sac_hookspecs.spec import ProviderConfig

    merged = merged_options(provider, ProviderConfig(name="deepseek", extra_headers={}), load_settings())
    assert (merged.model, merged.extra_headers) == ("m", {"X-A": "1"})
    assert merged_options(provider, "deepseek", load_settings()).model == "m"


def test_account_refs(world):
    world({"provider": "scripted"}, {"credential_store": "env"})
    settings = load_settings()
    assert account_ref("vault:team/key", settings) == ("vault", "team/key")
    assert account_ref("work", settings) == ("env", "work")


def test_the_agents_home_is_under_its_runtime_dir(world, home):
    _, ctx = world({"provider": "scripted"})
    assert ctx.home == str(home / "runtime" / "a" / "home")
