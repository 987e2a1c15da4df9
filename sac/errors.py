"""Errors a person can act on.

Every error sac raises on purpose is a :class:`SacError`: the CLI prints its message
(no traceback unless ``SAC_DEBUG=1``) and exits with its ``exit_code``: 2 for bad
input (usage, spec, names), 1 for failures of the world (a missing binary, a dead
process, a plugin conflict).
"""

from __future__ import annotations


class SacError(Exception):
    """A failure with a message for people. ``hint`` says what to try next."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class UsageError(SacError):
    """Bad input: a wrong argument, name or file. Exit status 2."""

    exit_code = 2


class NotFound(UsageError):
    """A named thing (agent, plugin, runtime) does not exist."""


class PluginError(SacError):
    """Plugins that cannot work together (a name registered twice, a bad registration)."""
