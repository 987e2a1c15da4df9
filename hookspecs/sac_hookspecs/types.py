"""The objects plugins register, and what sac hands to them.

Subclass the base class, set the class attributes, override what you support. The
defaults are the honest minimum (available everywhere, nothing to check), so a
plugin can start small and grow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import msgspec

from .spec import AgentSpec, Mount, ProviderConfig, Spec
from .turn import TurnResult

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
    warn: bool = False  # ok, but the user should know (e.g. a port without a token)


@dataclass(frozen=True)
class Agent:
    """One agent as sac hands it to plugins: its name, its validated spec, its dirs."""

    name: str
    document: AgentSpec
    spec_path: Path
    runtime_dir: Path  # everything sac keeps about the running agent lives here

    @property
    def spec(self) -> Spec:
        """The ``spec:`` of its spec.yaml; ``agent.spec.section(name)`` reads a plugin's section."""
        return self.document.spec


class Launch(msgspec.Struct, kw_only=True):
    """What the runner asks a runtime to start, in host paths."""

    claude_cli: str  # the claude binary on the host (bind it read-only into a container)
    home: str  # the agent's HOME, persisted in its runtime dir
    workdir: str  # bound read-write at /work
    mounts: list[Mount]  # spec.mounts with targets filled in; the only other host paths
    env: dict[str, str]  # non-secret environment for the agent (secrets never come here)


class Instance(msgspec.Struct, kw_only=True):
    """A started runtime instance. Persisted in the agent's state.json, so a later
    ``sac agents stop`` (another process) can act on it."""

    runtime: str
    id: str  # container or instance name; "" for the host
    cli: str  # the claude binary as seen where it runs
    home: str  # HOME as seen where the CLI runs
    workdir: str  # the working directory as seen where the CLI runs
    isolation: Isolation = "hardened"
    relaxed: list[str] = msgspec.field(default_factory=list)  # hardening the spec turned off
    env: dict[str, str] = msgspec.field(
        default_factory=dict
    )  # what the CLI needs that the instance does not set (HOME on the host)
    data: dict[str, str] = msgspec.field(default_factory=dict)  # runtime-specific
    mode: str = ""  # how the runtime runs it, in words for status (e.g. "exec: instances unsupported here")


class Runtime:
    """Where an agent's tools run: a container engine, or the host itself.

    ``name`` is what users write in ``spec.runtime``. When a spec names no runtime,
    sac picks the available runtime with the highest ``priority``.

    The lifecycle (``start``, ``command``, ``alive``, ``stop``) is called by the agent's
    runner process. Failures raise an exception whose message says what failed and
    what to try; sac shows it to the user as is.
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

    def hosts_this_process(self) -> bool:
        """True when this very process runs inside one of this runtime's containers, where
        nested starts are not possible: ``sac agents start`` then asks the host's control
        plane (the broker). Cheap: look at the environment."""
        return False

    def check(self, agent: Agent) -> list[CheckResult]:
        """Preflight for one agent: binaries, images, binds. Called by ``sac agents check``
        and before a start. May run quick probes (a ``--version``)."""
        return []

    def start(self, agent: Agent, launch: Launch) -> Instance:
        """Start (or adopt) the agent's instance; return it once it can run commands."""
        raise NotImplementedError(f"runtime {self.name!r} cannot start agents")

    def command(self, agent: Agent, instance: Instance, args: list[str], env_names: list[str]) -> list[str]:
        """The argv that runs ``claude *args`` in the instance. The variables named in
        ``env_names`` are set in the environment of that argv's process and must reach
        the CLI without their values appearing in the argv (``docker exec -e NAME``)."""
        raise NotImplementedError(f"runtime {self.name!r} cannot run commands")

    def alive(self, agent: Agent, instance: Instance) -> bool:
        """Whether the instance still runs. Cheap: called at every health probe."""
        return True

    def stop(self, agent: Agent, instance: Instance, grace: float) -> None:
        """Stop and remove the instance (give processes ``grace`` seconds). Idempotent:
        stopping an instance that is already gone is not an error."""

    def images(self) -> Images | None:
        """This runtime's image versions (``sac image ...``), or None when it has no
        images (the host runtime). Cheap: construct, do not probe."""
        return None


class ImageVersion(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One immutable build in a runtime's line of base images, as ``sac image list`` shows it."""

    version: str  # unique in the line, sortable by time: "20261202-062316"
    ref: str  # what a started instance records as ``data["image_ref"]`` (a SIF path, a docker image id)
    created: float = 0.0
    source: str = ""  # how it was made, in words: "debootstrap bookworm from URL", "sandbox DIR", ...
    definition: str = ""  # the definition it was built from, as text, when there is one
    digest: str = ""  # "sha256:..." of the image file or the image id
    size: int = 0  # bytes
    tools: dict[str, str] = msgspec.field(default_factory=dict)  # versions that built it: sac, the runtime
    packages: list[str] = msgspec.field(default_factory=list)  # "name=version", from the image's dpkg database


class Images:
    """A runtime's base images: a line of immutable versions, one of which is *current*
    (what the next start of an agent that names no image takes). sac's core keeps the
    history (``rollback``), finds the versions live agents use (``data["image_ref"]`` of
    their instances) and never removes one of those; the runtime only does what it is asked.

    Every failure raises an exception whose message says what failed and what to try;
    a failed build or switch leaves the current version as it was.
    """

    def versions(self) -> list[ImageVersion]:
        """Every version there is, oldest first."""
        return []

    def current(self) -> str | None:
        """The current version, or None when there is none."""
        return None

    def switch(self, version: str) -> None:
        """Make ``version`` current, atomically: running agents keep the image they started with."""
        raise NotImplementedError("this runtime cannot switch images")

    def remove(self, version: str) -> None:
        """Delete one version (sac has checked that no live agent uses it and it is not current)."""
        raise NotImplementedError("this runtime cannot remove images")

    def build_base(self, log: Callable[[str], None]) -> ImageVersion:
        """Build the bundled base image from this host's package mirror (no registry), make
        it current and return it. ``log`` takes one line per phase; check what the build
        needs (root, a daemon, a tool) before any slow work."""
        raise NotImplementedError("this runtime cannot build a base image")

    def build_definition(self, path: Path, log: Callable[[str], None]) -> ImageVersion:
        """Build a user's own definition file (``sac image build PATH``) into a new current version."""
        raise NotImplementedError("this runtime cannot build definition files")

    def import_image(self, source: str, log: Callable[[str], None]) -> ImageVersion:
        """A new current version from what the node already has: a directory (a root
        filesystem), a docker-archive tarball, an image file someone copied in."""
        raise NotImplementedError("this runtime cannot import images")

    def runtime_version(self) -> str:
        """The version of the runtime's own tool, e.g. ``apptainer version 1.5.3`` (for snapshots)."""
        return ""

    def packages(self, version: str) -> list[str]:
        """``name=version`` of every package in the image (for ``sac image snapshot``)."""
        return next((v.packages for v in self.versions() if v.version == version), [])

    def sandbox(self, version: str, directory: Path, log: Callable[[str], None]) -> None:
        """A writable directory tree of ``version`` (``sac image sandbox``)."""
        raise NotImplementedError("this runtime has no sandbox workflow")

    def update(self, directory: Path, apt: list[str], pip: list[str], log: Callable[[str], None]) -> None:
        """Install packages into a sandbox from the host's mirrors, the output streamed to ``log``."""
        raise NotImplementedError("this runtime has no sandbox workflow")

    def freeze(self, directory: Path, log: Callable[[str], None]) -> ImageVersion:
        """A new current version from a sandbox directory."""
        raise NotImplementedError("this runtime has no sandbox workflow")


class ProviderContext(msgspec.Struct, kw_only=True):
    """What sac resolved for a provider before calling it."""

    options: ProviderConfig  # the spec's inline options over the config's `providers.NAME`
    secret: str | None  # the key or token, from the account or the variable; None if absent
    secret_source: str  # where sac looked, for messages: "$DEEPSEEK_API_KEY", "account 'work'"
    home: str  # the agent's HOME on the host (for a credentials file, mode 0600)
    account: str | None = None  # the stored credential used, when the secret comes from one


class Provider:
    """Where an agent's model runs: turns ``spec.claude.provider`` into the CLI's setup.

    sac resolves the secret for the provider: from the credential store when the spec
    names an account, else from the variable ``options.auth_token_env`` or ``key_env``.
    """

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    key_env: ClassVar[str | None] = None  # the variable holding the key by default; None: no key
    #: handles an inline ``provider: {base_url: ...}`` that names no provider (one plugin may)
    inline: ClassVar[bool] = False
    #: whether turns cost money. The claude CLI prices every turn from its own price table
    #: (by model name); a provider that charges nothing (an offline or local model) says
    #: False, and sac records $0 for its turns.
    bills: ClassVar[bool] = True

    def check(self, agent: Agent, ctx: ProviderContext) -> list[CheckResult]:
        """Preflight: is the key there, is the base URL well formed, ... Never put the
        secret in ``detail``: name ``ctx.secret_source`` instead."""
        return []

    def environment(self, agent: Agent, ctx: ProviderContext) -> dict[str, str]:
        """The claude CLI's environment for this provider: ANTHROPIC_BASE_URL, the key or
        token, model names. Called in the agent's runner process just before the CLI
        starts; may start in-process helpers (the scripted provider starts its model
        server here) and may write files into ``ctx.home`` (mode 0600 for secrets).
        Values returned here reach the CLI only through its process environment."""
        return {}


class Transport:
    """How others reach a running agent (A2A, ...)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def check(self, agent: Agent) -> list[CheckResult]:
        """Preflight for this agent's use of the transport (port free, ...)."""
        return []

    async def serve(self, agent: Agent, port: AgentPort) -> Serving | None:
        """Called in the agent's runner once its session is open: start serving the agent
        (on ``spec.<section>`` of this transport) and return a :class:`Serving`, or None
        when the agent does not use this transport. ``port`` is how to reach the agent."""
        return None

    def speaks(self, url: str) -> bool:
        """Whether :meth:`post_turn` can reach an agent at ``url`` (``sac peer post-turn URL TEXT``
        asks each transport and posts through the first that says yes). Cheap: look at the
        URL (its scheme), do not connect."""
        return False

    def card(self, url: str) -> dict[str, Any] | None:
        """The card the agent serves at ``url`` (where ``serve`` put it), for ``sac listen``'s
        card route; None if this transport has no card. Called in the control plane."""
        return None

    def post_turn(self, url: str, text: str, timeout: float | None, token: str | None = None) -> str:
        """Client side (``sac peer post-turn URL TEXT``), called only for a ``url`` this transport
        :meth:`speaks`: send ``text`` to the agent there and return its reply; raise
        :class:`~sac_hookspecs.SacError` (message and hint) for failures. ``token`` is the
        bearer token sac found for ``url`` (a local agent's ``token_file``), if any."""
        raise NotImplementedError(f"transport {self.name!r} speaks no URL")


class AgentPort:
    """What a runner offers its transports: turns, interrupts and a description."""

    name: str
    card: dict[str, Any]  # description, skills, isolation: what a card may say (no secrets)
    #: The address the runner's own endpoints are reached at: loopback on the host that started
    #: it; the node's address when a placement runs it elsewhere (a Slurm job). A transport left
    #: at its default address serves there, so callers on the submitting host can reach it.
    address: str = "127.0.0.1"

    async def turn(
        self,
        text: str,
        timeout: float | None = None,
        on_text: Callable[[str], Any] | None = None,
        source: str = "transport",
        on_start: Callable[[int], Any] | None = None,
    ) -> TurnResult:
        """One turn, queued behind the others; ``on_start`` gets the turn's number when it
        leaves the queue, ``on_text`` the reply's text as it arrives. A turn that fails says
        why in ``reason`` (map that, never the wording of ``error``, to a status code)."""
        raise NotImplementedError

    async def interrupt(self, turn: int | None = None) -> bool:
        """Interrupt the running turn, only if it is number ``turn`` when given (so one caller
        never cancels another's turn); False if no such turn was running."""
        raise NotImplementedError

    def body_problems(self, body: bytes, type_: type) -> list[str]:
        """Every way a JSON request ``body`` does not fit ``type_`` (a msgspec Struct), one line
        each, located in the body (``body:1:16: extra: unknown field (...)``): the words of sac's
        own HTTP API, for a transport's 400 answers. [] when it fits. This default, for ports
        that are not sac's runner, says msgspec's first problem only."""
        try:
            msgspec.json.decode(body, type=type_)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            return [str(e)]
        return []


class Serving(msgspec.Struct, kw_only=True):
    """A transport serving one agent: where, how to stop it, and where the token callers
    need is kept (a 0600 file of the agent's owner; None when the transport asks for none).
    The runner records ``url`` and ``token_file`` in the agent's state, so sac's own
    clients (``sac peer post-turn URL TEXT``) find the token without the user handling it."""

    url: str
    stop: Callable[[], Awaitable[None]]
    token_file: str | None = None


class Job(msgspec.Struct, kw_only=True, frozen=True):
    """One runner a placement was asked to run, as the placement sees it now (a Slurm job)."""

    id: str  # the placement's id for it ("4211")
    state: str  # the placement's own word: "PENDING", "RUNNING", "CANCELLED", ...
    live: bool  # queued or running: its runner runs, or will
    running: bool = False  # its runner's process may run now
    node: str = ""  # where it runs (or ran)
    reason: str = ""  # why it waits, or why it ended, in the placement's words


class Here(msgspec.Struct, kw_only=True):
    """What a runner learns about itself inside one of a placement's jobs."""

    job_id: str
    node: str  # the node's name, as the placement calls it
    address: str  # an address of this node that the submitting host can reach
    resumed: bool = False  # requeued or resubmitted: go on with the agent's session
    drain_signal: int | None = None  # the signal that says "time is nearly up: drain, then requeue"


class Placement:
    """Where an agent's runner runs: the host that runs sac (``local``, in the core), a Slurm
    job, ... Separate from the :class:`Runtime`, which runs the agent's tools wherever the
    runner is. ``name`` is what users write after ``--on`` and as ``spec.placement.<name>``.

    The submitting side (``submit``, ``jobs``, ``cancel``) runs where the user runs sac; the
    job side (``here``, ``requeue``) runs in the placed runner. The agent's runtime dir must be
    on a filesystem both sides see: the runner writes its state there, and its control
    endpoint's address and token. Failures raise :class:`~sac_hookspecs.SacError`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: ``spec.placement.<name>``: a Struct (``forbid_unknown_fields``, ``kw_only``, every field
    #: with a default), validated with the rest of the spec; None: the placement takes none.
    settings: ClassVar[type[msgspec.Struct] | None] = None

    def available(self) -> str | None:
        """None if agents can be placed from this host, else why not (one line). Cheap."""
        return None

    def check(self, agent: Agent, settings: Any) -> list[CheckResult]:
        """Preflight for placing this agent with ``settings`` (its ``spec.placement.<name>``,
        or the settings' defaults when the spec has none)."""
        return []

    def submit(self, agent: Agent, settings: Any, command: list[str], env: dict[str, str]) -> Job:
        """Queue ``command`` (the runner's argv, to run in the caller's working directory) with
        ``env`` added to the caller's environment (names and paths, never secrets: the runner
        reads those where it runs). ``settings`` as for :meth:`check`. At most one job per
        agent may run at a time, whatever races there are between submitters: the placement
        guarantees it (Slurm: a job name per agent and ``--dependency=singleton``). Returns
        the job as queued."""
        raise NotImplementedError(f"placement {self.name!r} cannot place agents")

    def jobs(self, ids: list[str]) -> dict[str, Job]:
        """The jobs among ``ids`` that the placement still knows, in one query (a fleet's
        status asks once). An id missing from the answer ended long ago."""
        return {}

    def cancel(self, job_id: str) -> None:
        """End the job now (after a graceful stop failed, or for a queued job)."""

    def here(self) -> Here | None:
        """Inside one of this placement's jobs: what the runner needs to know (from the
        environment); elsewhere None. Cheap."""
        return None

    def requeue(self, here: Here) -> None:
        """From inside the job: put it back in the queue to run again (its time is up; the
        runner has drained and saved its state). The requeued runner finds ``resumed`` true."""
        raise NotImplementedError(f"placement {self.name!r} cannot requeue")

    def requeued(self, here: Here) -> bool:
        """From inside the job, after a SIGTERM sac did not send: whether the scheduler put
        the job back in its queue itself (an administrator's requeue, a preemption), so it
        runs again and the runner must not submit the agent a second time. Default: never."""
        return False


class CredentialStore:
    """Named secrets (API keys, login credentials). Values never reach argv or logs."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    writable: ClassVar[bool] = False

    def get(self, key: str) -> str | None:
        """The secret stored under ``key``, or None."""
        raise NotImplementedError

    def list(self) -> list[str]:
        """The keys this store holds (never the values). A store that cannot enumerate its
        keys (a vault that answers only for a named secret) keeps this default: it lists none."""
        return []

    def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (only when ``writable``)."""
        raise NotImplementedError(f"credential store {self.name!r} is read-only")

    def delete(self, key: str) -> bool:
        """Forget ``key``; True if it was there (only when ``writable``)."""
        raise NotImplementedError(f"credential store {self.name!r} is read-only")


__all__ = [
    "AgentPort",
    "Here",
    "Job",
    "Placement",
    "Serving",
    "Agent",
    "CheckResult",
    "CredentialStore",
    "Instance",
    "Isolation",
    "Launch",
    "Provider",
    "ProviderContext",
    "Runtime",
    "Transport",
]
