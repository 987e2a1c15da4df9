"""Agent lookup (project, user, extra dirs; paths) and the settings cascade."""

from __future__ import annotations

import json
import types
import typing

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sac.config import SETTINGS, Config, Settings, load_settings
from sac.errors import NotFound, UsageError
from sac.lookup import discover, resolve
from sac.names import check_name
from sac.spec.errors import SpecError
from sac.testing import MINIMAL, write_agent


def test_project_dir_wins_over_user_dir_over_extra_dirs(home, tmp_path, monkeypatch):
    extra = tmp_path / "extra"
    project = tmp_path / "work" / ".scitex" / "agent-container" / "agents"
    for root in (extra, home / "agents", project):
        write_agent(root, "a", MINIMAL)
    write_agent(extra, "only-extra", MINIMAL)
    monkeypatch.setenv("SAC_AGENTS_PATH", str(extra))
    settings = load_settings()
    assert resolve("a", settings) == ("a", project / "a" / "spec.yaml")
    (project / "a" / "spec.yaml").unlink()
    assert resolve("a", settings) == ("a", home / "agents" / "a" / "spec.yaml")
    assert resolve("only-extra", settings)[1] == extra / "only-extra" / "spec.yaml"
    assert [name for name, _ in discover(settings)] == ["a", "only-extra"]


def test_not_found_lists_every_path_searched(home, tmp_path, monkeypatch):
    monkeypatch.setenv("SAC_AGENTS_PATH", f"{tmp_path}/x:{tmp_path}/y")
    with pytest.raises(NotFound) as info:
        resolve("ghost", load_settings())
    searched = [line.strip() for line in info.value.message.splitlines()[1:]]
    assert searched == [
        str(tmp_path / "work/.scitex/agent-container/agents/ghost/spec.yaml"),
        str(home / "agents/ghost/spec.yaml"),
        str(tmp_path / "x/ghost/spec.yaml"),
        str(tmp_path / "y/ghost/spec.yaml"),
    ]


def test_paths_to_a_folder_or_a_file_name_the_agent_by_its_folder(home, tmp_path):
    spec = write_agent(tmp_path / "anywhere", "my-agent", MINIMAL)
    settings = load_settings()
    assert resolve(str(spec.parent), settings) == ("my-agent", spec)
    assert resolve(str(spec), settings) == ("my-agent", spec)
    with pytest.raises(NotFound, match="no agent folder or spec file at"):
        resolve(str(tmp_path / "nope/"), settings)


@pytest.mark.parametrize("bad", ["", ".hidden", "-flag", "a/b", "..", "a..b", "x" * 64, "sp ace", "é"])
def test_bad_agent_names_are_refused(bad):
    with pytest.raises(UsageError, match="invalid agent name"):
        check_name(bad)


@given(st.text(min_size=1, max_size=80))
def test_an_accepted_name_is_always_one_safe_path_component(name):
    try:
        check_name(name)
    except UsageError:
        return
    assert "/" not in name and ".." not in name and not name.startswith((".", "-")) and len(name) <= 63
    assert name.isascii() and name.strip() == name


def test_cascade_flag_over_env_over_project_over_user_over_default(home, tmp_path, monkeypatch):
    assert load_settings().default_provider == "anthropic"
    assert load_settings().source("default_provider") == "default"

    (home / "config.yaml").write_text("default_provider: deepseek\ndefault_runtime: docker\n")
    s = load_settings()
    assert (s.default_provider, s.default_runtime) == ("deepseek", "docker")
    assert s.source("default_provider") == f"user config {home / 'config.yaml'}"

    project = tmp_path / "work" / ".scitex" / "agent-container"
    project.mkdir(parents=True)
    (project / "config.yaml").write_text("default_provider: mimo\n")
    s = load_settings()
    assert (s.default_provider, s.default_runtime) == ("mimo", "docker")  # an absent key defers downwards

    monkeypatch.setenv("SAC_PROVIDER", "litellm")
    assert load_settings().default_provider == "litellm"
    assert load_settings().source("default_provider") == "environment SAC_PROVIDER"

    s = load_settings({"default_provider": "scripted", "default_runtime": None})
    assert (s.default_provider, s.source("default_provider")) == ("scripted", "command-line flag")
    assert s.default_runtime == "docker"  # a flag left unset does not override


def test_a_broken_config_file_is_a_located_error(home):
    (home / "config.yaml").write_text("default_runtime: docker\ndefualt_provider: x\n")
    with pytest.raises(SpecError) as info:
        load_settings()
    assert info.value.problems[0].render() == (
        f"{home / 'config.yaml'}:2:1: defualt_provider: unknown field "
        "(did you mean `default_provider`? allowed: default_runtime, default_provider, agents_path, "
        "default_accounts, credential_store, providers, safe_directories)"
    )


def test_an_empty_config_file_is_fine(home):
    (home / "config.yaml").write_text("# nothing yet\n")
    assert load_settings().default_provider == "anthropic"


def _members(t: object, drop: object) -> frozenset[object]:
    """The members of a union type other than ``drop``; a lone type is a union of one."""
    members = typing.get_args(t) if typing.get_origin(t) in (typing.Union, types.UnionType) else (t,)
    return frozenset(m for m in members if m is not drop)


def test_every_config_key_is_a_typed_setting_with_a_default():
    config = {f.name: f.type for f in msgspec.structs.fields(Config)}
    settings = {f.name: f for f in msgspec.structs.fields(Settings)}
    assert list(SETTINGS) == list(config) == [n for n in settings if n not in ("sources", "files")]
    for name in SETTINGS:
        # the type config.yaml accepts, resolved (never UNSET; None only where it means "choose")
        assert _members(settings[name].type, type(None)) == _members(config[name], msgspec.UnsetType), name
        assert settings[name].required is False, name
    defaults = Settings()
    assert all(defaults.source(name) == "default" for name in SETTINGS)
    with pytest.raises(KeyError):
        defaults.source("files")


# -- a project is found from any folder below it (issue 14) ----------------------------


def test_a_project_is_found_from_a_subfolder_like_git_finds_its_repository(home, sac, tmp_path, monkeypatch):
    """From proj/sub/dir, the project's agents and config are the ones used, and `sac config
    show` says which project and which config file."""
    project = tmp_path / "work" / "proj" / ".scitex" / "agent-container"
    write_agent(project / "agents", "proj-agent", MINIMAL)
    write_agent(home / "agents", "user-agent", MINIMAL)
    (project / "config.yaml").write_text("default_provider: scripted\n")
    deep = tmp_path / "work" / "proj" / "sub" / "dir"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    listed = sac("agents", "status", "--json", check=True)
    assert [a["name"] for a in json.loads(listed.stdout)] == ["proj-agent", "user-agent"], listed.stderr
    shown = sac("config", "show", check=True).stdout
    assert f"project: {project}\n" in shown and f"  {project / 'config.yaml'} (project config: read)\n" in shown
    as_json = json.loads(sac("config", "show", "--json", check=True).stdout)
    assert as_json["directories"]["project"] == str(project)
    assert as_json["settings"]["default_provider"]["source"] == f"project config {project / 'config.yaml'}"
    # the nearest project wins, as the nearest .git does
    inner = tmp_path / "work" / "proj" / "sub" / ".scitex" / "agent-container"
    write_agent(inner / "agents", "inner-agent", MINIMAL)
    assert resolve("inner-agent", load_settings())[1] == inner / "agents" / "inner-agent" / "spec.yaml"
    with pytest.raises(NotFound):
        resolve("proj-agent", load_settings())


def test_the_walk_up_stops_below_a_folder_others_may_write_to_and_says_so(home, sac, tmp_path, monkeypatch):
    """A folder its group or anyone may write to (a shared scratch space) can hold a .scitex the
    user never made: the walk does not go above it into that project, and says so on stderr.
    (A folder another user owns: tests/live/test_multiuser.py.)"""
    shared = tmp_path / "work" / "shared"
    write_agent(shared / ".scitex" / "agent-container" / "agents", "planted", MINIMAL)
    (shared / ".scitex" / "agent-container" / "config.yaml").write_text("default_provider: scripted\n")
    mine = shared / "mine"
    mine.mkdir()
    write_agent(home / "agents", "user-agent", MINIMAL)
    shared.chmod(0o775)
    monkeypatch.chdir(mine)
    done = sac("agents", "status", "--json", check=True)
    assert [a["name"] for a in json.loads(done.stdout)] == ["user-agent"]
    assert f"sac: warning: {shared / '.scitex' / 'agent-container'} is not used" in done.stderr
    assert "its group can write to it (mode 0775)" in done.stderr and f"run sac in {shared}" in done.stderr
    shown = json.loads(sac("config", "show", "--json", check=True).stdout)
    assert shown["directories"]["project"] is None and shown["config_files"] == []
    # the user's own folders are walked through: with the group's write bit gone, it is found
    shared.chmod(0o755)
    done = sac("agents", "status", "--json", check=True)
    assert [a["name"] for a in json.loads(done.stdout)] == ["planted", "user-agent"] and done.stderr == ""


def test_sac_home_above_the_working_directory_is_not_a_project(tmp_path, monkeypatch, sac):
    """SAC_HOME (~/.scitex/agent-container by default) is found on the way up from a folder in
    one's home: it is the user's own, not a project, so its config is not read twice."""
    home = tmp_path / "work" / ".scitex" / "agent-container"
    write_agent(home / "agents", "user-agent", MINIMAL)
    home.chmod(0o700)
    monkeypatch.setenv("SAC_HOME", str(home))
    deep = tmp_path / "work" / "code"
    deep.mkdir()
    monkeypatch.chdir(deep)
    shown = json.loads(sac("config", "show", "--json", check=True).stdout)
    assert shown["directories"]["project"] is None
    assert shown["directories"]["agent search path"] == [
        str(deep / ".scitex/agent-container/agents"),
        str(home / "agents"),
    ]
