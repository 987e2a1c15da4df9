"""The plugin host: defaults and entry points, third-party plugins, conflicts, failures."""

from __future__ import annotations

import json
import os
import types

import pytest
from plugin_factory import PODMAN, make_plugin

from sac.errors import NotFound, PluginError
from sac.plugins import Plugins
from sac_hookspecs import Runtime, hookimpl

FIRST_PARTY = {
    "apptainer": "sac-runtime-apptainer",
    "docker": "sac-runtime-docker",
    "deepseek": "sac-provider-deepseek",
    "a2a": "sac-transport-a2a",
    "slurm": "sac-placement-slurm",
}


def module(name: str, **hooks) -> types.ModuleType:
    mod = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, hookimpl(fn))
    return mod


def test_defaults_and_first_party_plugins_load_through_entry_points(home):
    pm = Plugins()
    for ep_name, dist in FIRST_PARTY.items():
        assert pm.infos[ep_name].distribution == dist
        assert pm.infos[ep_name].error is None
    assert {"runtime_local", "providers", "credentials"} <= {n for n, i in pm.infos.items() if i.default}
    assert set(pm.runtimes) == {"local", "apptainer", "docker"}
    assert {"anthropic", "scripted", "deepseek", "mimo", "litellm", "gateway"} <= set(pm.providers)
    assert pm.providers.get("xiaomi") is pm.providers.get("mimo")  # an alias
    assert pm.runtimes.owner("docker") == "docker"


def test_defaults_only(home):
    pm = Plugins(entry_points=False)
    assert set(pm.runtimes) == {"local"}
    assert set(pm.spec_sections) == set()


def test_sac_plugins_env_limits_which_entry_points_load(home, monkeypatch):
    monkeypatch.setenv("SAC_PLUGINS", "docker,sac-provider-deepseek")
    pm = Plugins()
    assert set(pm.runtimes) == {"local", "docker"}
    assert "deepseek" in pm.providers
    assert "a2a" not in pm.infos


def test_sac_plugins_naming_nothing_installed_warns(home, monkeypatch, sac):
    """A typo in SAC_PLUGINS loaded nothing and said nothing (issue 14)."""
    monkeypatch.setenv("SAC_PLUGINS", "docker,dockr")
    pm = Plugins()
    assert set(pm.runtimes) == {"local", "docker"}
    [warning] = pm.warnings
    assert warning.startswith("SAC_PLUGINS names 'dockr', but no installed plugin") and "installed: a2a," in warning
    done = sac("plugins", "list", env={"SAC_PLUGINS": "sac-runtime-docker,dockr"})
    assert done.returncode == 0 and "sac: warning: SAC_PLUGINS names 'dockr'" in done.stderr, done.stderr
    assert "warning" not in sac("plugins", "list", env={"SAC_PLUGINS": "sac-runtime-docker"}).stderr


def test_unknown_name_lists_what_is_installed(home):
    with pytest.raises(NotFound, match=r"unknown runtime 'podman' \(installed: local, "):
        Plugins().runtimes.get("podman")


def test_two_plugins_registering_one_runtime_name_is_an_error_naming_both(home):
    pm = Plugins()

    class FakeDocker(Runtime):
        name = "docker"

    pm.add(module("acme", sac_register_runtimes=lambda register: register(FakeDocker())), "acme", "acme-sac", "2.0")
    with pytest.raises(PluginError) as info:
        _ = pm.runtimes
    assert str(info.value) == (
        "runtime 'docker' is registered by two plugins: 'docker' (sac-runtime-docker 0.1.0) and 'acme' (acme-sac 2.0)"
    )


def test_registering_the_wrong_kind_of_object_is_a_clear_error(home):
    pm = Plugins(entry_points=False)
    pm.add(module("oops", sac_register_runtimes=lambda register: register("docker")), "oops", "oops", "0.1")
    with pytest.raises(PluginError, match=r"registered 'docker' as a runtime, but it is not a sac_hookspecs.Runtime"):
        _ = pm.runtimes


def test_a_misspelt_hook_is_reported_and_the_plugin_skipped(home):
    pm = Plugins(entry_points=False)
    pm.add(module("typo", sac_register_runtime=lambda register: None), "typo", "typo-dist", "0.1")
    assert pm.infos["typo"].error.startswith("PluginValidationError")
    assert any("plugin 'typo' from typo-dist 0.1 failed to load" in w for w in pm.warnings)


def test_a_plugin_that_fails_to_import_is_one_warning_and_sac_keeps_working(home, tmp_path, sac):
    root = make_plugin(tmp_path / "site", "broken-sac", "broken_sac", "import nonexistent_module_xyz\n")
    done = sac("plugins", "list", "--json", env={"PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    warnings = [ln for ln in done.stderr.splitlines() if ln.startswith("sac: warning:")]
    assert warnings == [
        "sac: warning: plugin 'broken_sac' from broken-sac 1.0 failed to load "
        "(ModuleNotFoundError: No module named 'nonexistent_module_xyz'); skipped"
    ]
    listed = {p["name"]: p for p in json.loads(done.stdout)}
    assert listed["broken_sac"]["error"].startswith("ModuleNotFoundError")
    assert listed["docker"]["registered"] == {"runtimes": ["docker"], "spec_sections": ["docker"]}


def test_third_party_plugin_is_listed_and_its_runtime_selectable(home, tmp_path, sac):
    root = make_plugin(tmp_path / "site", "sac-podman", "sac_podman", PODMAN, entry_point="podman")
    env = {"PYTHONPATH": str(root)}
    listed = {p["name"]: p for p in json.loads(sac("plugins", "list", "--json", env=env, check=True).stdout)}
    assert listed["podman"]["distribution"] == "sac-podman"
    assert listed["podman"]["hooks"] == ["sac_register_runtimes"]
    assert listed["podman"]["registered"] == {"runtimes": ["podman"]}

    spec = tmp_path / "agents" / "pod-agent" / "spec.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(
        "apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  runtime: podman\n  claude: {provider: scripted}\n"
    )
    done = sac("agents", "check", str(spec), "--json", env=env)
    report = json.loads(done.stdout)[0]
    assert report["runtime"] == "podman"
    assert {"name": "podman", "ok": True, "detail": "ready for pod-agent"} in report["checks"]
    assert done.returncode == 0, done.stdout

    # without the plugin, the same spec names an unknown runtime: a spec error, exit 2
    done = sac("agents", "check", str(spec))
    assert done.returncode == 2
    assert f"{spec}:4:12: spec.runtime: unknown runtime 'podman'" in done.stderr


def test_a_spec_without_runtime_gets_the_highest_priority_available_one(home, tmp_path, sac):
    root = make_plugin(tmp_path / "site", "sac-podman", "sac_podman", PODMAN, entry_point="podman")
    spec = tmp_path / "a" / "spec.yaml"
    spec.parent.mkdir()
    spec.write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec: {claude: {provider: scripted}}\n")
    report = json.loads(sac("agents", "check", str(spec), "--json", env={"PYTHONPATH": str(root)}).stdout)[0]
    assert report["runtime"] == "podman"  # priority 99 beats every first-party runtime
    report = json.loads(sac("agents", "check", str(spec), "--json", "--runtime", "local").stdout)[0]
    assert report["runtime"] == "local"  # the flag wins over the best-available choice


def test_trace_hooks_prints_each_hook_call(home, sac):
    done = sac("plugins", "list", env={"SAC_TRACE_HOOKS": "1"}, check=True)
    assert "sac: hook sac_register_runtimes -> plugin 'docker'" in done.stderr
    assert "sac:   docker registered runtime 'docker'" in done.stderr


def test_core_imports_no_plugin_package():
    """The core knows plugins only through hooks: importing all of it loads none of them."""
    import subprocess
    import sys

    code = (
        "import pkgutil, importlib, sys, sac\n"
        "for m in pkgutil.walk_packages(sac.__path__, 'sac.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.startswith(('sac_runtime', 'sac_provider', 'sac_transport')))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_core_source_never_names_a_plugin_package():
    import ast
    from pathlib import Path

    import sac

    offenders = []
    for path in Path(sac.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.startswith(("sac_runtime", "sac_provider", "sac_transport"))
            ]
    assert offenders == []


def test_plugin_modules_import_nothing_heavy():
    """Loading every plugin (what `sac agents check` does) must not import the SDK, a2a or granian."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom sac.plugins import Plugins\np = Plugins()\np.runtimes; p.providers; p.transports; "
        "p.credential_stores; p.spec_type\n"
        "print(','.join(sorted(m for m in ('claude_agent_sdk', 'a2a', 'granian', 'mcp') if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SAC_HOME": "/nonexistent"},
    )
    assert done.stdout.strip() == ""
