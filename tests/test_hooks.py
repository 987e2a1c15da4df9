"""One test per hook (``test_hook_<name>``), and the meta-tests that keep it so.

Like datasette's: a hook without a test here, or without a section in
docs/plugins.md, fails the suite.
"""

from __future__ import annotations

import re
import stat
import textwrap
import types
from pathlib import Path

import msgspec
import pluggy
import pytest
from plugin_factory import make_plugin

from sac.errors import PluginError
from sac.plugins import Plugins
from sac.spec.errors import SpecError
from sac.spec.load import load_text
from sac.spec.schema import json_schema
from sac_hookspecs import CheckResult, CredentialStore, Provider, Runtime, Transport, hookimpl, hookspecs

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def hook_names() -> list[str]:
    pm = pluggy.PluginManager("sac")
    pm.add_hookspecs(hookspecs)
    return sorted(name for name in dir(pm.hook) if name.startswith("sac_"))


def plugin(pm: Plugins, name: str, **hooks) -> None:
    mod = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, hookimpl(fn))
    pm.add(mod, name, f"{name}-dist", "1.0")


# -- meta-tests -------------------------------------------------------------------------


def test_there_are_hooks_for_each_kind_of_plugin():
    assert hook_names() == [
        "sac_register_commands",
        "sac_register_credential_stores",
        "sac_register_placements",
        "sac_register_providers",
        "sac_register_runtimes",
        "sac_register_spec_sections",
        "sac_register_transports",
    ]


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_test(hook):
    assert callable(globals().get(f"test_hook_{hook}")), f"write test_hook_{hook} in {__file__}"


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_documented(hook):
    headings = re.findall(r"^### `?(\w+)", DOCS.read_text(), flags=re.M)
    assert hook in headings, f"docs/plugins.md needs a '### {hook}' section"


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_docstring(hook):
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert "Called" in doc and "Return" in doc, "say when the hook is called and what it returns"


# -- one test per hook ------------------------------------------------------------------


def test_hook_sac_register_runtimes(home):
    class Sandbox(Runtime):
        name = "sandbox"
        isolation = "custom"

        def available(self):
            return "no sandbox here"

    pm = Plugins(entry_points=False)
    plugin(pm, "sbx", sac_register_runtimes=lambda register: register(Sandbox()))
    assert set(pm.runtimes) == {"local", "sandbox"}
    assert pm.runtimes.owner("sandbox") == "sbx"
    assert pm.runtimes.get("sandbox").available() == "no sandbox here"
    assert pm.registered_by()["sbx"] == {"runtimes": ["sandbox"]}


def test_hook_sac_register_providers(home):
    class Vendor(Provider):
        name = "vendor"
        aliases = ("v",)

        def check(self, agent):
            return [CheckResult(name="key", ok=False, detail="$VENDOR_KEY is not set", fix="export VENDOR_KEY")]

    pm = Plugins(entry_points=False)
    plugin(pm, "vend", sac_register_providers=lambda register: register(Vendor()))
    assert pm.providers.get("v") is pm.providers.get("vendor")
    assert list(pm.providers) == ["anthropic", "scripted", "vendor"]  # aliases are not listed as providers

    plugin(pm, "clash", sac_register_providers=lambda register: register(type("X", (Provider,), {"name": "v"})()))
    del pm.providers  # rebuild the cached registry with the new plugin
    with pytest.raises(PluginError, match=r"provider 'v' is registered by two plugins: 'vend' .* and 'clash'"):
        _ = pm.providers


def test_hook_sac_register_transports(home):
    class Pigeon(Transport):
        name = "pigeon"

    pm = Plugins(entry_points=False)
    plugin(pm, "birds", sac_register_transports=lambda register: register(Pigeon()))
    assert list(pm.transports) == ["pigeon"]
    assert Plugins().transports.owner("a2a") == "a2a"


def test_hook_sac_register_placements(home):
    """A placement's name is valid after --on, its settings are spec.placement.<name>, checked
    with the rest of the spec; `local` is sac's own, `slurm` the first-party plugin's."""
    from sac_hookspecs import Placement

    class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
        queue: str = "default"

    class Pbs(Placement):
        name = "pbs"
        settings = Settings

    pm = Plugins(entry_points=False)
    assert list(pm.placements) == ["local"]
    plugin(pm, "batch", sac_register_placements=lambda register: register(Pbs()))
    del pm.placements
    assert list(pm.placements) == ["local", "pbs"] and pm.placements.owner("pbs") == "batch"
    base = "apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  placement:\n    pbs: "
    doc = load_text(base + "{queue: gpu}\n", "spec.yaml", pm.spec_type)
    assert doc.spec.section("placement").pbs.queue == "gpu"
    with pytest.raises(SpecError) as e:
        load_text(base + "{queue: 1, walltime: 3}\n", "spec.yaml", pm.spec_type)
    assert [p.path for p in e.value.problems] == ["spec.placement.pbs.queue", "spec.placement.pbs.walltime"]
    with pytest.raises(SpecError, match="sge"):  # only registered placements
        load_text(base.replace("pbs", "sge") + "{}\n", "spec.yaml", pm.spec_type)
    assert Plugins().placements.owner("slurm") == "slurm"
    with pytest.raises(PluginError, match="placement"):  # a plugin section cannot take the name
        plugin(pm, "squatter", sac_register_spec_sections=lambda register: register("placement", Settings))
        del pm.spec_sections
        list(pm.spec_sections)


def test_hook_sac_register_credential_stores(home):
    pm = Plugins(entry_points=False)
    assert set(pm.credential_stores) == {"env", "file"}
    store = pm.credential_stores.get("file")
    store.put("work", "sk-secret-value")
    path = home / "credentials" / "work"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.get("work") == "sk-secret-value" and store.list() == ["work"]
    assert store.delete("work") and store.get("work") is None and not store.delete("work")
    with pytest.raises(NotImplementedError, match="read-only"):
        pm.credential_stores.get("env").put("X", "y")

    class Vault(CredentialStore):
        name = "vault"

        def get(self, key):
            return {"k": "v"}.get(key)

    plugin(pm, "vaultplug", sac_register_credential_stores=lambda register: register(Vault()))
    del pm.credential_stores
    assert pm.credential_stores.get("vault").get("k") == "v"


def test_hook_sac_register_spec_sections(home):
    class Podman(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
        image: str = "alpine"
        userns: bool = False

    pm = Plugins(entry_points=False)
    plugin(pm, "pod", sac_register_spec_sections=lambda register: register("podman", Podman))
    text = "apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  podman:\n    image: deb\n"
    assert load_text(text, "s.yaml", pm.spec_type).spec.section("podman") == Podman(image="deb")
    with pytest.raises(SpecError) as info:
        load_text(text + "    usern: true\n", "s.yaml", pm.spec_type)
    assert info.value.problems[0].render() == (
        "s.yaml:6:5: spec.podman.usern: unknown field (did you mean `userns`? allowed: image, userns)"
    )
    schema = json_schema(pm.spec_type)
    assert schema["$defs"]["Podman"]["properties"]["userns"] == {"type": "boolean", "default": False}

    bad = Plugins(entry_points=False)
    plugin(bad, "bad", sac_register_spec_sections=lambda register: register("claude", Podman))
    with pytest.raises(PluginError, match=r"registered spec.claude, a core field"):
        _ = bad.spec_sections


def test_hook_sac_register_commands(home, tmp_path, sac):
    source = """\
        import click
        from sac_hookspecs import hookimpl

        @click.command()
        @click.argument("who")
        def hello(who):
            "Say hello from a plugin."
            click.echo(f"hello {who}")

        @click.command()
        def agents():
            "Try to replace a built-in group."

        @hookimpl
        def sac_register_commands(cli):
            cli.add_command(hello)
            cli.add_command(agents)
    """
    root = make_plugin(tmp_path / "site", "sac-hello", "sac_hello", textwrap.dedent(source), entry_point="hello")
    env = {"PYTHONPATH": str(root)}
    help_text = sac("--help", env=env, check=True).stdout
    assert re.search(r"^\s+hello\s+Say hello from a plugin\.$", help_text, flags=re.M)
    done = sac("hello", "world", env=env, check=True)
    assert done.stdout == "hello world\n"
    assert "command 'agents' ignored: the name is taken" in done.stderr
    assert "Check, start, stop and talk to agents." in sac("--help", env=env).stdout  # the built-in survives
