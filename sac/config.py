"""Settings, resolved by the cascade: CLI flag > environment variable > project config
(``./.scitex/agent-container/config.yaml``) > user config (``$SAC_HOME/config.yaml``) >
built-in default. Each value remembers where it came from (``sac config show``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from sac.paths import is_there, project_dir, sac_home
from sac_hookspecs.spec import ProviderConfig


class Config(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """config.yaml. Every key is optional; an absent key defers to the next layer."""

    default_runtime: str | msgspec.UnsetType = msgspec.UNSET  # when a spec names none
    default_provider: str | msgspec.UnsetType = msgspec.UNSET  # when a spec names none
    agents_path: list[str] | msgspec.UnsetType = msgspec.UNSET  # extra agent directories
    # per provider: the account used when a spec names none (`sac accounts switch NAME`);
    # per provider, so a key saved for one vendor is never sent to another
    default_accounts: dict[str, str] | msgspec.UnsetType = msgspec.UNSET
    credential_store: str | msgspec.UnsetType = msgspec.UNSET  # where accounts live
    # per-provider overrides: base_url, model, small_model, auth_token_env, extra_headers
    providers: dict[str, ProviderConfig] | msgspec.UnsetType = msgspec.UNSET
    # project folders whose .scitex/agent-container is trusted though another user owns it
    # (sac/trust.py); honoured in the user config and SAC_SAFE_DIRECTORIES, never a project's
    safe_directories: list[str] | msgspec.UnsetType = msgspec.UNSET


class Settings(msgspec.Struct, kw_only=True):
    """Resolved settings: ``settings.default_runtime``, ``settings.source("default_runtime")``.
    Each setting is a field of :class:`Config`, here with its built-in default."""

    default_runtime: str | None = None  # None: the best runtime available here
    default_provider: str = "anthropic"
    agents_path: list[str] = msgspec.field(default_factory=list)
    default_accounts: dict[str, str] = msgspec.field(default_factory=dict)
    credential_store: str = "file"
    providers: dict[str, ProviderConfig] = msgspec.field(default_factory=dict)
    safe_directories: list[str] = msgspec.field(default_factory=list)
    # provenance, not settings: where each value came from (a name absent: "default"), and
    # the config files read
    sources: dict[str, str] = msgspec.field(default_factory=dict)
    files: list[Path] = msgspec.field(default_factory=list)

    def source(self, name: str) -> str:
        if name not in SETTINGS:
            raise KeyError(name)
        return self.sources.get(name, "default")

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"value": msgspec.to_builtins(getattr(self, name)), "source": self.source(name)} for name in SETTINGS
        }


#: The names of the settings, in config.yaml's order.
SETTINGS: tuple[str, ...] = Config.__struct_fields__

#: The environment variable of each setting. List settings split on os.pathsep.
ENV = {
    "default_runtime": "SAC_RUNTIME",
    "default_provider": "SAC_PROVIDER",
    "agents_path": "SAC_AGENTS_PATH",
    "credential_store": "SAC_CREDENTIAL_STORE",
    "safe_directories": "SAC_SAFE_DIRECTORIES",
}
LISTS = ("agents_path", "safe_directories")


def safe_directories(configured: Iterable[str]) -> list[str]:
    """The configured safe_directories (the user config's, so far) plus SAC_SAFE_DIRECTORIES."""
    env = [p for p in os.environ.get("SAC_SAFE_DIRECTORIES", "").split(os.pathsep) if p]
    return [*configured, *env]


def config_files() -> list[tuple[str, Path]]:
    """(label, path) of the config files, lowest precedence first."""
    return [("user config", sac_home() / "config.yaml"), ("project config", project_dir() / "config.yaml")]


def load_settings(flags: Mapping[str, Any] | None = None) -> Settings:
    """Resolve every setting. A broken config file is a SpecError naming file:line:col."""
    values: dict[str, Any] = {}  # the settings not left at their default
    sources: dict[str, str] = {}
    files: list[Path] = []
    for label, path in config_files():
        if not is_there(path, directory=False):
            continue
        if label == "project config":  # another user's planted config must not be read
            from sac.trust import check_project_path

            check_project_path(path, project_dir(), safe_directories(values.get("safe_directories", [])))
        else:  # nor one another user could write in a SAC_HOME that is not private
            from sac.trust import check_home_path

            check_home_path(path, sac_home())
        files.append(path)
        from sac.spec.load import load_file  # YAML is only imported when there is a file

        cfg = load_file(path, Config, empty=Config())
        for name, value in msgspec.structs.asdict(cfg).items():
            if value is msgspec.UNSET:
                continue
            if name == "safe_directories" and label == "project config":
                from sac.errors import UsageError

                raise UsageError(
                    f"{path}: safe_directories belongs in your own config, not a project's",
                    hint=f"move it to {sac_home() / 'config.yaml'}",
                )
            values[name], sources[name] = value, f"{label} {path}"
    for name, var in ENV.items():
        raw = os.environ.get(var)
        if raw:
            values[name] = [p for p in raw.split(os.pathsep) if p] if name in LISTS else raw
            sources[name] = f"environment {var}"
    for name, value in (flags or {}).items():
        if value is not None:
            values[name], sources[name] = value, "command-line flag"
    return Settings(**values, sources=sources, files=files)


def set_user_setting(name: str, value: Any) -> Path:
    """Set one key of the user config.yaml (atomically; other keys kept, comments not)."""
    import yaml

    from sac_hookspecs.toolkit.files import write_atomic

    path = sac_home() / "config.yaml"
    data = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    if value is None:
        data.pop(name, None)
    else:
        data[name] = value
    write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode())
    return path
