"""The error sac shows a person: a message and what to try next, never a traceback.

One type for the core and for plugins: a plugin raises ``SacError(message, hint=...)`` and
the ``sac`` CLI prints it exactly as it prints its own errors (``sac: error: MESSAGE`` and
``  hint: HINT``, exit status 1), and every place in sac that handles its own errors (a
start of several agents, a preflight report) handles a plugin's the same way.
"""

from __future__ import annotations


class SacError(Exception):
    """A failure with a message for people. ``hint`` says what to try next; ``exit_code`` is
    1 (a failure of the world: a missing binary, a dead daemon, a full disk)."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The message, and the hint on its own line: what the CLI prints after ``sac: error:``."""
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


__all__ = ["SacError"]
