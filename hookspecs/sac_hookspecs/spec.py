"""The core of the spec.yaml schema (``apiVersion: scitex-agent-container/v3``).

These Structs are part of the plugin contract: a plugin reads ``agent.spec.claude``
or ``agent.spec.mounts`` through them. Sections owned by plugins (``spec.apptainer``,
``spec.docker``, ``spec.a2a``, ...) are Structs of those plugins, added to
:class:`Spec` by sac at run time through ``sac_register_spec_sections``.

Conventions, relied on by sac's validator and schema export:

- every Struct forbids unknown fields and is keyword-only;
- ``Meta(extra={"allowed": "..."})`` gives the human wording of what a constrained
  value may be, used in error messages;
- every field has a default unless a spec without it makes no sense.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar, overload

import msgspec
from msgspec import Meta, Struct, field

API_VERSION = "scitex-agent-container/v3"
S = TypeVar("S", bound=msgspec.Struct)

PositiveSeconds = Annotated[float, Meta(gt=0, extra={"allowed": "a number of seconds > 0"})]
NonNegativeInt = Annotated[int, Meta(ge=0, extra={"allowed": "an integer >= 0"})]
Port = Annotated[int, Meta(ge=1, le=65535, extra={"allowed": "a TCP port, 1-65535"})]
MountMode = Literal["ro", "rw"]
# "fresh" and "new-session" start a new conversation; "continue" picks up the most
# recent one in the agent's HOME; "resume <session_id>" picks a specific one.
SessionMode = Annotated[
    str,
    Meta(
        pattern=r"^(fresh|new-session|continue|resume [A-Za-z0-9][A-Za-z0-9_.-]*)$",
        extra={"allowed": "fresh, new-session, continue, or 'resume <session_id>'"},
    ),
]
Capability = Annotated[
    str,
    Meta(pattern=r"^\S+$", extra={"allowed": "a word without spaces"}),
]


class _Section(Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Base of every spec Struct: strict and keyword-only."""


class Mount(_Section):
    """A host path the agent may see. Also written as ``"SRC[:DST][:ro|rw]"``."""

    source: str
    target: str | None = None  # defaults to the same path as the source
    mode: MountMode = "ro"


class ProviderConfig(_Section):
    """An inline provider: a registered provider with options, or any gateway.

    ``{name: scripted, script: FILE}`` picks a registered provider with options;
    ``{base_url: ..., auth_token_env: ...}`` targets any Anthropic-compatible
    endpoint (a self-hosted LiteLLM, a vLLM shim, an in-house gateway).
    """

    name: str | None = None
    base_url: str | None = None
    auth_token_env: str | None = None
    model: str | None = None
    small_model: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    script: str | None = None


class Claude(_Section):
    """How the Claude Code CLI is run for this agent."""

    model: str = "sonnet"  # an alias (opus, sonnet, haiku, with an optional [1m]) or a full id
    flags: list[str] = field(default_factory=list)  # extra CLI flags, passed verbatim
    provider: str | ProviderConfig | None = None  # None: the default provider
    session: SessionMode = "fresh"
    account: str | None = None  # a stored credential, see `sac accounts`
    allowed_tools: list[str] = field(default_factory=list)
    permission_mode: Literal["default", "acceptEdits", "plan", "bypassPermissions"] | None = None
    turn_timeout: PositiveSeconds = 600.0  # a turn running longer is interrupted and reported


class Health(_Section):
    """How the runner probes a running agent (``process``: it lives; ``sdk-alive``: it answers)."""

    enabled: bool = True
    interval: PositiveSeconds = 60.0
    method: Literal["sdk-alive", "process"] = "sdk-alive"
    timeout: PositiveSeconds = 10.0


class Backoff(_Section):
    """Delay before restart n (from 0): ``min(initial * factor**n, max)`` seconds."""

    initial: PositiveSeconds = 1.0
    factor: Annotated[float, Meta(ge=1, extra={"allowed": "a number >= 1"})] = 2.0
    max: PositiveSeconds = 300.0


class Restart(_Section):
    """When the runner restarts a failed agent, how often in a row, and how long it waits."""

    policy: Literal["never", "on-failure", "always"] = "on-failure"
    max_retries: NonNegativeInt = 5
    backoff: PositiveSeconds | Backoff = field(default_factory=Backoff)


class McpServer(_Section):
    """One MCP server, written into the agent's ``.mcp.json``."""

    type: Literal["stdio", "http", "sse"] = "stdio"
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Metadata(_Section):
    """Free description and labels; ``labels.capabilities`` feeds ``sac agents find``."""

    description: str | None = None
    labels: dict[str, str | list[Capability]] = field(default_factory=dict)

    @property
    def capabilities(self) -> list[str]:
        """``labels.capabilities`` as a list (a single word is written as a string)."""
        caps = self.labels.get("capabilities", [])
        return [caps] if isinstance(caps, str) else list(caps)


class Spec(_Section):
    """``spec:`` in spec.yaml, without the plugin sections."""

    # None: the best runtime available on this host (see `sac plugins list`).
    runtime: str | None = None
    workdir: str | None = None  # host directory bound rw at /work; default: the agent's runtime dir
    mounts: list[str | Mount] = field(default_factory=list)
    claude: Claude = field(default_factory=Claude)
    startup_prompts: list[str] = field(default_factory=list)
    health: Health = field(default_factory=Health)
    restart: Restart = field(default_factory=Restart)
    mcp_servers: dict[str, McpServer] = field(default_factory=dict)

    @overload
    def section(self, name: str) -> msgspec.Struct | None: ...
    @overload
    def section(self, name: str, type_: type[S]) -> S | None: ...
    def section(self, name: str, type_: type[S] | None = None) -> msgspec.Struct | S | None:
        """A plugin section by name, or None if the spec has none. Give the section's Struct
        (``spec.section("apptainer", ApptainerSpec)``) to get it typed as that (and a TypeError
        if the section registered under ``name`` is another type)."""
        value = getattr(self, name, None)
        if type_ is not None and value is not None and not isinstance(value, type_):
            raise TypeError(f"spec.{name} is a {type(value).__name__}, not a {type_.__name__}")
        return value


class AgentSpec(_Section):
    """A whole spec.yaml. The agent's name is its folder's name, never a field."""

    apiVersion: Literal["scitex-agent-container/v3"]
    kind: Literal["Agent"]
    spec: Spec = field(default_factory=Spec)
    metadata: Metadata = field(default_factory=Metadata)


__all__ = [
    "API_VERSION",
    "AgentSpec",
    "Backoff",
    "Claude",
    "Health",
    "McpServer",
    "Metadata",
    "Mount",
    "ProviderConfig",
    "Restart",
    "Spec",
]
