"""What most commands need: the plugins (warnings printed once) and the settings."""

from __future__ import annotations

from typing import Any

from sac.cli import warn_plugins
from sac.config import Settings, load_settings
from sac.plugins import Plugins, get_plugins


def plugins() -> Plugins:
    p = get_plugins()
    warn_plugins(p)
    return p


def settings(**flags: Any) -> Settings:
    return load_settings(flags)
