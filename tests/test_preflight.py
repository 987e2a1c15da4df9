"""sac.preflight (``sac agents check``): a spec is validated, then every host path, the
runtime, the provider and each transport is asked; every failed row says what to fix, a
plugin's crash is a failed row, and the exit code follows (0 ready, 1 not, 2 spec/usage)."""

from __future__ import annotations

import types

import pytest
import yaml

from sac.config import load_settings
from sac.plugins import Plugins
from sac.preflight import preflight
from sac_hookspecs import Provider, Runtime, hookimpl


def spec(home, name="a", **fields) -> str:
    body = {"runtime": "local", "claude": {"provider": "scripted"}, **fields}
    path = home / "agents" / name / "spec.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"apiVersion": "scitex-agent-container/v3", "kind": "Agent", "spec": body}))
    return name


def check(ref: str, plugins: Plugins | None = None):
    report = preflight(ref, plugins or Plugins(), load_settings())
    return report, {c.name: c for c in report.checks}


def failed(report) -> list[str]:
    return [c.name for c in report.checks if not c.ok]


def test_a_ready_agent_passes_every_row(home):
    report, rows = check(spec(home))
    assert (report.ok, report.exit_code, report.agent, report.runtime, report.provider) == (
        True,
        0,
        "a",
        "local",
        "scripted",
    )
    assert report.spec == str(home / "agents" / "a" / "spec.yaml")
    assert rows["spec"].detail == "valid"
    assert rows["runtime"].detail == "local (isolation: none)"
    assert rows["model"].ok  # the scripted provider's own row
    assert failed(report) == []


def test_a_spec_error_is_exit_2_with_every_problem_and_no_checks(home):
    path = home / "agents" / "a" / "spec.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  healht: {}\n  restart: {policy: sometimes}\n"
    )
    report, _ = check("a")
    assert (report.ok, report.exit_code, report.checks) == (False, 2, [])
    assert report.spec == str(path)
    assert len(report.problems) == 2 and {p.line for p in report.problems} == {4, 5}


def test_an_unknown_agent_is_an_error_with_its_exit_code(home):
    report, _ = check("ghost")
    assert (report.ok, report.exit_code, report.checks) == (False, 2, [])
    assert "ghost" in report.error


def test_every_missing_mount_in_one_row(home, tmp_path):
    (tmp_path / "here").mkdir()
    name = spec(home, mounts=[f"{tmp_path}/gone1:/a", f"{tmp_path}/here:/b", f"{tmp_path}/gone2:/c:ro"])
    report, rows = check(name)
    assert (report.ok, report.exit_code, failed(report)) == (False, 1, ["mounts"])
    assert rows["mounts"].detail == f"source(s) missing: {tmp_path}/gone1, {tmp_path}/gone2"
    assert rows["mounts"].fix
    (tmp_path / "gone1").mkdir()
    (tmp_path / "gone2").mkdir()
    report, rows = check(name)
    assert report.ok and rows["mounts"].detail == "3 source(s) present"


@pytest.mark.parametrize("kind", ["a-file", "under-a-file", "dangling-link", "under-a-dangling-link"])
def test_a_workdir_start_could_not_make_is_a_failed_row(home, tmp_path, kind):
    (tmp_path / "file").write_text("x")
    (tmp_path / "file").chmod(0o755)  # writable and executable, yet no directory
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    workdir, said = {
        "a-file": (tmp_path / "file", "is not a directory"),
        "under-a-file": (tmp_path / "file" / "w", "cannot be created here"),
        "dangling-link": (tmp_path / "link", f"{tmp_path / 'link'} is a link to nothing"),
        "under-a-dangling-link": (tmp_path / "link" / "w", f"{tmp_path / 'link'} is a link to nothing"),
    }[kind]
    report, rows = check(spec(home, workdir=str(workdir)))
    assert (report.exit_code, failed(report)) == (1, ["workdir"])
    assert said in rows["workdir"].detail and rows["workdir"].fix


def test_a_relative_workdir_is_resolved_from_the_spec_folder(home):
    report, rows = check(spec(home, workdir="work/deeper"))
    assert report.ok and "workdir" not in rows
    assert not (home / "agents" / "a" / "work").exists()  # checked, not made
    (home / "agents" / "a" / "blocked").write_text("a file where the workdir's parent would be")
    report, rows = check(spec(home, workdir="blocked/w"))
    assert failed(report) == ["workdir"]
    assert rows["workdir"].detail == f"{home / 'agents' / 'a' / 'blocked' / 'w'} cannot be created here"


def test_a_sac_home_too_deep_for_the_control_socket(home, tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setenv("SAC_HOME", str(deep))
    report, rows = check(spec(deep))
    assert failed(report) == ["runtime dir"]
    assert "more than Unix sockets allow" in rows["runtime dir"].detail
    assert rows["runtime dir"].fix == "set SAC_HOME to a shorter directory"


def test_a_provider_without_credentials_fails_its_row(home, monkeypatch, tmp_path):
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no Claude login either
    report, rows = check(spec(home, claude={"provider": "anthropic"}))
    assert (report.provider, report.exit_code, failed(report)) == ("anthropic", 1, ["credentials"])
    assert "$ANTHROPIC_API_KEY (not set)" in rows["credentials"].detail
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-x")
    assert check("a")[0].ok


def test_a_transport_check_is_asked(home):
    report, rows = check(spec(home, a2a={"port": 8999, "host": "example.org"}))
    assert failed(report) == ["a2a host"] and report.exit_code == 1


def plugin(name: str, hook: str, obj) -> types.ModuleType:
    mod = types.ModuleType(name)
    setattr(mod, hook, hookimpl(lambda register: register(obj)))
    return mod


class Crashing(Runtime):
    name = "crashing"
    isolation = "none"

    def check(self, agent):
        raise RuntimeError("boom in check")

    def start(self, agent, launch):
        raise AssertionError("preflight never starts anything")


class DeclaredOnly(Runtime):
    name = "declared"


class CrashingProvider(Provider):
    name = "crashprov"

    def check(self, agent, ctx):
        raise KeyError("no such thing")


def test_a_plugin_whose_check_crashes_is_a_failed_row_not_a_crashed_sac(home):
    plugins = Plugins()
    plugins.add(plugin("crash_rt", "sac_register_runtimes", Crashing()), "crash_rt", "crash-dist", "1.0")
    plugins.add(plugin("crash_pv", "sac_register_providers", CrashingProvider()), "crash_pv", "crash-dist", "1.0")
    report, rows = check(spec(home, runtime="crashing", claude={"provider": "crashprov"}), plugins)
    assert failed(report) == ["runtime crashing", "provider crashprov"]
    assert rows["runtime crashing"].detail == "the check crashed: RuntimeError: boom in check"
    assert rows["provider crashprov"].detail == "the check crashed: KeyError: 'no such thing'"
    assert rows["runtime"].ok and report.exit_code == 1


def test_a_runtime_that_cannot_start_agents_fails_its_row(home):
    plugins = Plugins()
    plugins.add(plugin("decl", "sac_register_runtimes", DeclaredOnly()), "decl", "decl-dist", "1.0")
    report, rows = check(spec(home, runtime="declared"), plugins)
    assert failed(report) == ["runtime"]
    assert rows["runtime"].detail == "declared cannot start agents yet"


def test_an_unknown_default_runtime_is_a_failed_row_with_a_hint(home):
    (home / "config.yaml").write_text("default_runtime: podman\n")
    path = home / "agents" / "a" / "spec.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec:\n  claude: {provider: scripted}\n")
    report, rows = check("a")
    assert failed(report) == ["runtime"] and report.runtime is None
    assert "unknown runtime 'podman'" in rows["runtime"].detail and rows["runtime"].fix
