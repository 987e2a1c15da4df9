"""The objects plugins register, and what sac hands to them.

Subclass the base class, set the class attributes, override what you support. The
defaults are the honest minimum (available everywhere, nothing to check), so a
plugin can start small and grow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import msgspec

from .spec import AgentSpec, Spec

Isolation = Literal["hardened", "custom", "none"]


class CheckResult(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One row of a preflight (``sac agents check``).

    ``detail`` says what was found (or what failed) in one line; ``fix`` says what
    to do about a failure, also in one line.
    """

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""


@dataclass(frozen=True)
class Agent:
    """One agent as sac hands it to plugins: its name, its validated spec, its dirs."""

    name: str
    document: AgentSpec
    spec_path: Path
    runtime_dir: Path  # everything sac keeps about the running agent lives here

    @property
    def spec(self) -> Spec:
        return self.document.spec


class Runtime:
    """Where an agent's tools run: a container engine, or the host itself.

    ``name`` is what users write in ``spec.runtime``. When a spec names no runtime,
    sac picks the available runtime with the highest ``priority``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    isolation: ClassVar[Isolation] = "hardened"
    priority: ClassVar[int] = 0

    def available(self) -> str | None:
        """None if this runtime can run agents on this host, else why not (one line).

        Called to choose a default runtime, so keep it cheap: look for a binary or a
        socket; do not start processes.
        """
        return None

    def check(self, agent: Agent) -> list[CheckResult]:
        """Preflight for one agent: binaries, images, binds. Called by ``sac agents check``
        and before a start. May run quick probes (a ``--version``)."""
        return []


class Provider:
    """Where an agent's model runs: turns ``spec.claude.provider`` into the CLI's setup."""

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    def check(self, agent: Agent) -> list[CheckResult]:
        """Preflight: is the key there, is the base URL well formed, ... Never print
        a secret in ``detail``: name the variable or account instead."""
        return []


class Transport:
    """How others reach a running agent (A2A, ...)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def check(self, agent: Agent) -> list[CheckResult]:
        """Preflight for this agent's use of the transport (port free, ...)."""
        return []


class CredentialStore:
    """Named secrets (API keys, login credentials). Values never reach argv or logs."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    writable: ClassVar[bool] = False

    def get(self, key: str) -> str | None:
        """The secret stored under ``key``, or None."""
        raise NotImplementedError

    def list(self) -> list[str]:
        """The keys this store holds (never the values)."""
        raise NotImplementedError

    def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (only when ``writable``)."""
        raise NotImplementedError(f"credential store {self.name!r} is read-only")

    def delete(self, key: str) -> bool:
        """Forget ``key``; True if it was there (only when ``writable``)."""
        raise NotImplementedError(f"credential store {self.name!r} is read-only")


__all__ = ["Agent", "CheckResult", "CredentialStore", "Isolation", "Provider", "Runtime", "Transport"]
