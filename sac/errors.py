"""Errors a person can act on.

Every error sac raises on purpose is a :class:`SacError` (defined in the plugin contract,
so a plugin's errors are sac's): the CLI prints its message and hint
(no traceback unless ``SAC_DEBUG=1``) and exits with its ``exit_code``: 2 for bad
input (usage, spec, names), 1 for failures of the world (a missing binary, a dead
process, a plugin conflict).
"""

from __future__ import annotations

from sac_hookspecs.errors import SacError  # the contract's: plugins raise it too


class UsageError(SacError):
    """Bad input: a wrong argument, name or file. Exit status 2."""

    exit_code = 2


class NotFound(UsageError):
    """A named thing (agent, plugin, runtime) does not exist."""


class PluginError(SacError):
    """Plugins that cannot work together (a name registered twice, a bad registration)."""


__all__ = ["NotFound", "PluginError", "SacError", "UsageError"]
