"""The hooks a sac plugin may implement.

Every hook is a *registration* hook (the simonw/llm shape): sac calls it once per
process, the first time it needs that kind of object, with a ``register`` callable.
The plugin calls ``register(obj)`` for each object it contributes. sac records which
plugin registered what, so a name registered twice is an error naming both plugins.

A plugin module implements hooks with the :data:`sac_hookspecs.hookimpl` marker and
is found through the ``sac`` entry-point group::

    [project.entry-points.sac]
    myruntime = "my_package.sac_plugin"

Hooks are called lazily: ``sac --help`` calls none; ``sac agents check`` calls the
spec-section, runtime and provider hooks. Keep plugin modules cheap to import and
import heavy libraries inside the methods that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - typing only
    import click
    import msgspec

    from .types import CredentialStore, Placement, Provider, Runtime, Transport

#: marks sac's hook specifications (a plugin needs only hookimpl)
hookspec = pluggy.HookspecMarker("sac")
#: marks a plugin's hook implementations: ``@hookimpl def sac_register_runtimes(register): ...``
hookimpl = pluggy.HookimplMarker("sac")


@hookspec
def sac_register_runtimes(register: Callable[[Runtime], None]) -> None:
    """Register container runtimes (apptainer, docker, local, ...).

    Called when sac first needs the runtime registry: to validate ``spec.runtime``,
    to pick the best available runtime, by ``sac agents check`` and by the runner.
    Call ``register(runtime)`` once per :class:`sac_hookspecs.Runtime` instance. Its
    ``name`` is the value users write in ``spec.runtime``; a name already taken by
    another plugin is an error naming both plugins. Return nothing.
    """


@hookspec
def sac_register_providers(register: Callable[[Provider], None]) -> None:
    """Register LLM providers (anthropic, scripted, deepseek, ...).

    Called when sac first needs the provider registry: to resolve
    ``spec.claude.provider`` and by ``sac agents check``. Call ``register(provider)``
    once per :class:`sac_hookspecs.Provider` instance. Its ``name`` and every entry
    of its ``aliases`` must be unique across plugins. Return nothing.
    """


@hookspec
def sac_register_transports(register: Callable[[Transport], None]) -> None:
    """Register transports that make an agent reachable (A2A, ...).

    Called when a runner starts (to ask each transport which routes it serves for
    that agent) and by commands that talk to peers. Call ``register(transport)``
    once per :class:`sac_hookspecs.Transport` instance with a unique ``name``.
    Return nothing.
    """


@hookspec
def sac_register_credential_stores(register: Callable[[CredentialStore], None]) -> None:
    """Register credential stores (file, env, a keyring, a vault, ...).

    Called when sac first resolves an account or a provider key, and by
    ``sac accounts``. Call ``register(store)`` once per
    :class:`sac_hookspecs.CredentialStore` instance with a unique ``name``.
    Return nothing.
    """


@hookspec
def sac_register_placements(register: Callable[[Placement], None]) -> None:
    """Register placements: where an agent's runner runs (``slurm``, ...; ``local`` is sac's).

    Called when sac first needs the placement registry: to read ``spec.placement`` (each
    placement's ``settings`` Struct is ``spec.placement.<name>``), for ``sac agents start
    --on NAME``, for the status of an agent a placement runs, and in a placed runner. Call
    ``register(placement)`` once per :class:`sac_hookspecs.Placement` instance with a
    unique ``name``. Return nothing.
    """


@hookspec
def sac_register_spec_sections(register: Callable[[str, type[msgspec.Struct]], None]) -> None:
    """Add typed sections to ``spec:`` in spec.yaml (``spec.apptainer``, ``spec.a2a``, ...).

    Called once, when sac builds the spec schema (before loading any spec.yaml and
    for ``sac spec schema``). Call ``register(name, StructType)``: the section
    ``spec.<name>`` is then validated against ``StructType`` with the same precise
    errors as the core fields, and appears in the exported JSON Schema. Define the
    Struct with ``forbid_unknown_fields=True`` and ``kw_only=True`` and give every
    field a default, so a spec that omits the section still loads. A name already
    used by a core field or another plugin is an error. Return nothing.
    """


@hookspec
def sac_register_commands(cli: click.Group) -> None:
    """Add commands or command groups to the ``sac`` CLI.

    Called when the CLI lists its commands (``sac --help``) or is asked for a
    command that is not built in. Add commands with ``cli.add_command(cmd)``; a name
    that is already a built-in command is ignored with a warning. Keep the work done
    here to building click objects: import heavy modules inside the command
    callbacks. Return nothing.
    """


__all__ = [
    "hookimpl",
    "hookspec",
    "sac_register_commands",
    "sac_register_credential_stores",
    "sac_register_placements",
    "sac_register_providers",
    "sac_register_runtimes",
    "sac_register_spec_sections",
    "sac_register_transports",
]
