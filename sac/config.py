"""Settings, resolved by the cascade: CLI flag > environment variable > project config
(``./.scitex/agent-container/config.yaml``) > user config (``$SAC_HOME/config.yaml``) >
built-in default. Each value remembers where it came from (``sac config show``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from sac.paths import project_dir, sac_home
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


#: Built-in defaults. ``default_runtime: None`` means the best runtime available here.
DEFAULTS: dict[str, Any] = {
    "default_runtime": None,
    "default_provider": "anthropic",
    "agents_path": [],
    "default_accounts": {},
    "credential_store": "file",
    "providers": {},
    "safe_directories": [],
}

#: The environment variable of each setting. List settings split on os.pathsep.
ENV = {
    "default_runtime": "SAC_RUNTIME",
    "default_provider": "SAC_PROVIDER",
    "agents_path": "SAC_AGENTS_PATH",
    "credential_store": "SAC_CREDENTIAL_STORE",
    "safe_directories": "SAC_SAFE_DIRECTORIES",
}
LISTS = ("agents_path", "safe_directories")


class Settings:
    """Resolved settings: ``settings.default_runtime``, ``settings.source("default_runtime")``."""

    def __init__(self, values: dict[str, Any], sources: dict[str, str], files: list[Path]) -> None:
        self._values, self._sources, self.files = values, sources, files

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self._sources[name]

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {k: {"value": msgspec.to_builtins(v), "source": self._sources[k]} for k, v in self._values.items()}


def safe_directories(values: Mapping[str, Any]) -> list[str]:
    """The user's safe_directories (user config, so far) plus SAC_SAFE_DIRECTORIES."""
    env = [p for p in os.environ.get("SAC_SAFE_DIRECTORIES", "").split(os.pathsep) if p]
    return [*values.get("safe_directories", []), *env]


def config_files() -> list[tuple[str, Path]]:
    """(label, path) of the config files, lowest precedence first."""
    return [("user config", sac_home() / "config.yaml"), ("project config", project_dir() / "config.yaml")]


def load_settings(flags: Mapping[str, Any] | None = None) -> Settings:
    """Resolve every setting. A broken config file is a SpecError naming file:line:col."""
    values = dict(DEFAULTS)
    sources = dict.fromkeys(values, "default")
    files = []
    for label, path in config_files():
        if not path.is_file():
            continue
        if label == "project config":  # another user's planted config must not be read
            from sac.trust import check_project_path

            check_project_path(path, project_dir(), safe_directories(values))
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
    return Settings(values, sources, files)


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
