"""What most commands need: the plugins (warnings printed once) and the settings.
Imported by every command module, so it imports nothing heavy itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sac.config import Settings
    from sac.plugins import Plugins


def plugins() -> Plugins:
    from sac.cli.root import warn_plugins
    from sac.plugins import get_plugins

    p = get_plugins()
    warn_plugins(p)
    return p


def settings(**flags: Any) -> Settings:
    from sac.config import load_settings

    return load_settings(flags)


def warn_plugins(p: Plugins) -> None:
    from sac.cli.root import warn_plugins as warn

    warn(p)
