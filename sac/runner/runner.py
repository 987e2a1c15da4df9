"""The per-agent runner: one process that owns the agent's session, state and socket.

Life of a runner (``sac agents start NAME`` spawns one, ``--foreground`` runs one here):

1. take the agent's lock (a second runner exits at once: the agent is already running);
2. prepare HOME and the workdir (``to_home/``, ``dot_claude/``, ``spec.mcp_servers``);
3. ask the provider for the CLI's environment and the runtime for an instance;
4. open the SDK session, the CLI running inside the instance through a wrapper script
   built from ``Runtime.command`` (secrets pass by variable name, never in argv);
5. serve the control socket, send ``startup_prompts``, report ``ready``;
6. tick: heartbeat, health probes, restarts per ``spec.restart`` with backoff; every
   restart resumes the same Claude session;
7. on SIGTERM or ``stop``: close the session, stop the instance, report ``stopped``.
"""

from __future__ import annotations

import asyncio
import math
import os
import shlex
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sac import transcript as ev
from sac.nofollow import ensure_dir
from sac.runner import control
from sac.runner.home import mirror
from sac.runner.session import Session, SessionDied
from sac.state import AgentDir, AgentState, Heartbeat, Phase, process_start, this_host
from sac.transcript import append_event
from sac_hookspecs import (
    Agent,
    AgentPort,
    Here,
    Instance,
    Launch,
    Placement,
    Provider,
    ProviderContext,
    Runtime,
    Serving,
    Transport,
    TurnResult,
)
from sac_hookspecs.spec import Backoff
from sac_hookspecs.toolkit.files import write_atomic
from sac_hookspecs.toolkit.mounts import parse_mount

TICK = 1.0  # seconds between heartbeats
RECOVERED = "(recovered by a restart) "  # how a past error of a recovered agent is kept
ALREADY_RUNNING = 3  # the runner's exit status when another runner holds the lock
#: Left in the runtime dir by `sac agents stop` of a placed agent before it asks the runner to
#: stop (or cancels its job): the SIGTERM that follows is the owner's, not one to recover from.
STOP_REQUESTED = "stop-requested"

#: Variables the SDK sets for the CLI; they must reach it inside a container too.
SDK_ENV = (
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_AGENT_SDK_VERSION",
    "CLAUDE_CODE_SDK_READS_SESSION_STATE",
    "CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING",
    "CLAUDE_AGENT_SDK_CLIENT_APP",
    "CLAUDE_CODE_CLIENT_APP",
)
#: The CLI's environment everywhere: no updates, no telemetry, nothing but the model API.
#: Credential variables the provider does not set are blanked: on the host (local runtime)
#: the CLI inherits the runner's environment, and a host key must never reach another
#: vendor's endpoint.
BASE_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
    "DISABLE_TELEMETRY": "1",
    "ANTHROPIC_API_KEY": "",
    "ANTHROPIC_AUTH_TOKEN": "",
    "CLAUDE_CODE_OAUTH_TOKEN": "",
    "ANTHROPIC_CUSTOM_HEADERS": "",
}


#: The largest single message the CLI may send the runner (a reply, a tool result).
MAX_MESSAGE = 64 * 1024 * 1024


def backoff_delay(backoff: float | Backoff, attempt: int) -> float:
    """Seconds to wait before restart number ``attempt`` (0-based)."""
    b = Backoff(initial=backoff) if isinstance(backoff, (int, float)) else backoff
    # In log space: initial * factor**attempt overflows a float (OverflowError killed the
    # runner at attempt 3 with factor 1e308, at attempt 1024 with the default 2; review D19).
    if b.initial >= b.max or b.factor == 1:
        return min(b.initial, b.max)
    if attempt >= math.log(b.max / b.initial) / math.log(b.factor):
        return b.max
    return min(b.initial * b.factor**attempt, b.max)


def _recovered(error: str) -> str:
    return error if error.startswith(RECOVERED) else f"{RECOVERED}{error}"


class Runner:
    def __init__(
        self,
        agent: Agent,
        runtime: Runtime,
        provider: Provider,
        provider_ctx: ProviderContext,
        *,
        claude_cli: str,
        transports: Sequence[Transport] = (),
        resume: bool = False,
        parent: str | None = None,
        echo: Any = None,
        blank: Sequence[str] = (),
        placed: tuple[Placement, Here] | None = None,
        resubmit: Any = None,
    ) -> None:
        self.agent, self.runtime, self.provider, self.provider_ctx = agent, runtime, provider, provider_ctx
        self.transports = list(transports)
        self.serving: list[Serving] = []
        self.dir = AgentDir(agent.name, agent.runtime_dir)
        self.claude_cli = claude_cli
        self.resume = resume  # a restart of the agent: resume its session whatever the spec says
        self.parent = parent
        self.blank = list(blank)  # credential variables the CLI must not inherit
        self.lock_inode: int | None = None  # the lock file this runner holds (its identity)
        self.lost = False  # its runtime dir was deleted under it: write nothing more there
        self.control_server: Any = None
        self.echo = echo or (lambda line: None)
        self.stopping = asyncio.Event()
        self.instance: Instance | None = None
        self.session: Session | None = None
        self.state: AgentState | None = None
        self.env: dict[str, str] = {}
        self.failure: str | None = None  # set when a turn finds the CLI dead; the supervisor acts on it
        # In a placement's job (Slurm): the placement and what the job says about itself, and
        # how to submit this agent again (sac.placing.resubmit) when the job is ended from outside.
        self.placed = placed
        self.resubmit = resubmit
        self.draining = False  # its time is nearly up: no new turns, the current one finishes
        #: what happens after the shutdown: "requeue" (time up), "resubmit" (ended from outside,
        #: the restart policy says again), "ended" (ended from outside, it says not again)
        self.ending: str | None = None
        self.tcp_server: Any = None  # the control endpoint over TCP, in a job

    # -- state ----------------------------------------------------------------------

    def record(self, phase: Phase | None = None, **fields: Any) -> None:
        """Change the agent's state (its phase, and/or ``fields``) and write state.json."""
        assert self.state is not None
        if phase:
            self.state.state = phase
        for k, v in fields.items():
            setattr(self.state, k, v)
        if not self.lost:
            self.dir.write_state(self.state)

    def beat(self) -> None:
        assert self.state is not None
        if self.lost:
            return
        busy = self.session.busy_since if self.session else None
        phase = Phase.BUSY if busy and self.state.state == Phase.READY else self.state.state
        self.dir.write_heartbeat(Heartbeat(time=time.time(), state=phase, pid=os.getpid(), busy_since=busy))

    # -- preparing --------------------------------------------------------------------

    def prepare(self) -> Launch:
        spec = self.agent.spec
        home = self.dir.home
        workdir = Path(spec.workdir).expanduser() if spec.workdir else self.dir.root / "work"
        if not workdir.is_absolute():
            workdir = self.agent.spec_path.parent / workdir
        ensure_dir(home, mode=0o700)  # a link here (or in them, see mirror) is refused, never followed
        try:
            ensure_dir(workdir, mode=0o755, private=False)  # a spec.workdir may be a shared project dir
        except OSError as e:
            raise RuntimeError(f"cannot create the workdir {workdir}: {e.strerror or e} (spec.workdir)") from None
        here = self.agent.spec_path.parent
        mirror(here / "to_home", home, claude_dirs=False)
        mirror(here / "dot_claude", workdir, claude_dirs=True, mcp_servers=spec.mcp_servers)
        mounts = [parse_mount(m) for m in spec.mounts]
        for m in mounts:
            if not Path(m.source).expanduser().exists():
                raise RuntimeError(f"mount source {m.source} does not exist (spec.mounts)")
        mounts = [type(m)(source=str(Path(m.source).expanduser()), target=m.target, mode=m.mode) for m in mounts]
        return Launch(claude_cli=self.claude_cli, home=str(home), workdir=str(workdir), mounts=mounts, env={})

    def broker_env(self) -> dict[str, str]:
        """Who the agent is, and the host's control plane if it runs: an agent in a container
        asks it to start siblings (`sac agents start` inside brokers there)."""
        env = {"SAC_AGENT_NAME": self.agent.name}
        if self.placed is not None:  # on a node, listen.json's loopback URL is the node's own: no broker
            return env
        try:
            from sac.controlplane import broker_token, running

            info = running()
            if info:  # a token for starting siblings only, never the host's master token
                env.update(SAC_LISTEN_BASE_URL=info["url"], SAC_LISTEN_BEARER=broker_token(self.agent.name))
        except Exception:  # noqa: BLE001 - no control plane: the agent simply has no broker
            pass
        return env

    def revoke_broker(self) -> None:
        """The broker token dies with the runner (review D13): it must not start anything later."""
        try:
            from sac.controlplane import revoke_broker_token

            revoke_broker_token(self.agent.name)
        except OSError:
            pass

    def wrapper(self, instance: Instance) -> Path:
        """The script the SDK runs as ``claude``: records the CLI's pid, then execs the
        runtime's command. Names of variables only: values stay in the environment."""
        names = sorted(set(self.env) | set(SDK_ENV))
        argv = self.runtime.command(self.agent, instance, [], names)
        pid_file = shlex.quote(str(self.dir.path("cli.pid")))
        # The pid goes to a fresh file (noclobber: O_EXCL, so never through a link) that is
        # renamed over cli.pid (a rename replaces a link, it does not write through it).
        script = (
            f'#!/bin/sh\ntmp={pid_file}.$$\n(set -C; echo $$ > "$tmp") && mv -f "$tmp" {pid_file}\n'
            f'exec {shlex.join(argv)} "$@"\n'
        )
        path = self.dir.path("claude-wrapper")
        write_atomic(path, script.encode(), mode=0o700)
        return path

    def sdk_options(self, wrapper: Path, workdir: str) -> Any:
        from claude_agent_sdk import ClaudeAgentOptions

        claude = self.agent.spec.claude
        extra: dict[str, str | None] = {}
        for flag in claude.flags:  # "--switch", "--name=value" or "--name value" (validated by spec checks)
            name, sep, value = flag[2:].partition("=") if "=" in flag else flag[2:].partition(" ")
            extra[name] = value.strip() if sep else None

        def make(resume: str | None, cont: bool) -> Any:
            return ClaudeAgentOptions(
                cli_path=str(wrapper),
                cwd=workdir,
                env=self.env,
                model=None if "ANTHROPIC_MODEL" in self.env else claude.model,
                allowed_tools=list(claude.allowed_tools),
                permission_mode=claude.permission_mode,
                resume=resume,
                continue_conversation=cont,
                extra_args=extra,
                stderr=lambda line: self.echo(f"[claude] {line}"),
                # One stream-json message holds a whole reply or tool result (an image read is
                # megabytes of base64): the SDK's 1 MiB default killed the session and lost the
                # reply (review D10). Only a message this large is ever buffered whole.
                max_buffer_size=MAX_MESSAGE,
            )

        return make

    # -- running ----------------------------------------------------------------------

    async def open_session(self, first: bool) -> None:
        """Start the instance if needed, then open the session (resuming when we can)."""
        assert self.state is not None
        if self.instance is None or not await asyncio.to_thread(self.runtime.alive, self.agent, self.instance):
            if self.instance is not None:
                await asyncio.to_thread(self.runtime.stop, self.agent, self.instance, 2.0)
            if first:
                self.record(step=f"starting its {self.runtime.name} instance")
            self.instance = await asyncio.to_thread(self.runtime.start, self.agent, self.launch)
            self.env.update(self.instance.env)
            self.record(instance=self.instance, isolation=self.instance.isolation)
        wrapper = self.wrapper(self.instance)
        if first:
            self.record(step="opening the claude session")
        if self.session is None:
            options = self.sdk_options(wrapper, self.launch.workdir)
            self.session = Session(options, self.dir.transcript, bills=self.provider.bills)
            self.resume_transcript()
            self.session.on_busy = self.beat
        self.session.make_options = self.sdk_options(wrapper, self.launch.workdir)
        mode = self.agent.spec.claude.session
        saved = self.state.session_id
        if (not first or self.resume) and saved:
            resume, cont = saved, False  # a restart goes on with the same conversation
        elif mode.startswith("resume "):
            resume, cont = mode.split(" ", 1)[1], False
        else:
            resume, cont = None, mode == "continue"
        if first:
            await self.session.open(resume=resume, continue_conversation=cont)
        else:
            old = self.cli_process()
            await self.session.reopen(resume=resume, continue_conversation=cont)
            self.reap(old)

    async def handle(self, request: control.AnyRequest) -> Any:
        """Answer one control request (sac.runner.control says what each one is)."""
        if isinstance(request, control.Send):
            if not request.text.strip():
                return TurnResult.failure("bad_request", "the prompt is empty")
            timeout = request.timeout or self.agent.spec.claude.turn_timeout
            return await self.send(request.text, timeout, source=request.source)
        if isinstance(request, control.Interrupt):
            done = self.session is not None and await self.session.interrupt()
            return {"ok": True, "interrupted": done}
        if isinstance(request, (control.Health, control.AskStatus)):
            return self.health_report()
        assert isinstance(request, control.Stop)
        self.ending = None  # its owner's stop: no requeue, no resubmission
        self.stopping.set()
        return {"ok": True}

    async def send(
        self, text: str, timeout: float, source: str = "send", on_text: Any = None, on_start: Any = None
    ) -> TurnResult:
        phase = self.state.state if self.state else Phase.STARTING
        if self.draining:
            return TurnResult.failure("not_ready", "the agent is being requeued (its job's time is up); try again soon")
        allowed = (Phase.READY, Phase.STARTING) if source == "startup" else (Phase.READY,)
        if phase not in allowed or self.session is None:
            return TurnResult.failure("not_ready", f"the agent is {phase}, not ready for a turn")
        generation = self.session.generation
        try:
            result = await self.session.turn(text, timeout, source=source, on_text=on_text, on_start=on_start)
        except SessionDied as e:
            if self.stopping.is_set():  # the session was closed under the turn on purpose (D26)
                return TurnResult.failure("stopped", "the agent was stopped during the turn")
            if self.session.generation == generation:  # not a CLI a restart already replaced
                self.failure = str(e)
            return TurnResult.failure(
                "cli_died", f"the agent's CLI died during the turn ({e}); it is restarted per its policy"
            )
        if self.session.broken:
            self.failure = "an interrupted turn did not finish"
        self.count_turn(result)
        return result

    def count_turn(self, result: TurnResult) -> None:
        assert self.state is not None
        self.state.add(result)
        self.record(
            turns=self.state.turns + 1,
            session_id=result.session_id or self.state.session_id,
            last_error=result.error if not result.ok else self.state.last_error,
        )

    def health_report(self) -> control.HealthReport:
        assert self.state is not None
        return control.HealthReport(
            state=self.state.state,
            cli_alive=self.cli_alive(),
            busy_since=self.session.busy_since if self.session else None,
            session_id=self.state.session_id,
            restarts=self.state.restarts,
            last_error=self.state.last_error,
        )

    def resume_transcript(self) -> None:
        """Turn numbers go on from the transcript (they restarted at 1 in a new runner), and a
        turn a dead runner left without an answer is closed with an error (review D25)."""
        from sac.transcript import last_turn

        highest, unanswered = last_turn(self.dir.transcript)
        if unanswered is not None:
            append_event(
                self.dir.transcript,
                ev.Error(turn=unanswered, error="the runner ended during this turn: no reply was recorded"),
            )
        assert self.session is not None
        self.session.turns = highest

    def cli_process(self) -> tuple[int, int] | None:
        """(pid, start time) of the CLI process as its wrapper recorded it, if it runs."""
        pid = self.dir.cli_pid()
        start = process_start(pid) if pid is not None else None
        return (pid, start) if pid is not None and start is not None else None

    def reap(self, proc: tuple[int, int] | None) -> None:
        """Make sure an old CLI is gone: one stopped (SIGSTOP) or hung ignores the SDK's
        disconnect and lingered with its ~200 MB after restarts and stops (review D20).
        The start time guards against a reused pid."""
        if proc is None or process_start(proc[0]) != proc[1]:
            return
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(proc[0], sig)
            except ProcessLookupError:
                return

    def cli_alive(self) -> bool:
        return self.cli_process() is not None

    async def healthy(self) -> str | None:
        """None if healthy, else what is wrong."""
        if self.failure:
            return self.failure
        assert self.instance is not None
        try:
            alive = await asyncio.to_thread(self.runtime.alive, self.agent, self.instance)
        except Exception as e:  # noqa: BLE001 - a probe that fails is a failed probe
            return f"the {self.runtime.name} health probe failed: {e}"
        if not alive:
            return f"the {self.runtime.name} instance {self.instance.id or ''} is gone".replace("  ", " ")
        if self.session and self.session.busy_since is None and not self.cli_alive():
            return "the claude CLI process exited"
        health = self.agent.spec.health
        if health.method == "sdk-alive" and self.session and not await self.session.ping(health.timeout):
            return f"the claude CLI did not answer a health probe within {health.timeout:g} s"
        return None

    async def heartbeat(self) -> None:
        """Write heartbeat.json every tick, whatever else the runner is doing."""
        while True:
            if self.lock_inode is not None and not self.lost and not self.dir.still_locked(self.lock_inode):
                # Its runtime dir was deleted (or replaced) under it: its HOME, workdir, socket
                # and lock are gone, and a new `start` would make a second runner (review D6).
                # It stops, and writes nothing more there: the dir may be a new runner's now.
                self.lost = True
                self.echo(f"{self.dir.root} was deleted under this runner: stopping")
                self.stopping.set()
                return
            if self.control_server is not None and not self.dir.socket.exists() and not self.stopping.is_set():
                # control.sock was deleted: nothing could reach the agent any more, and `start`
                # said it was running (review N4). Serve it again at its path.
                try:
                    self.control_server.close()
                    self.control_server = await control.serve(self.dir.socket, self.handle)
                    self.echo("control.sock was gone: serving it again")
                except OSError as e:
                    self.echo(f"control.sock could not be served again: {e}")
            try:
                self.beat()
            except Exception as e:  # noqa: BLE001 - a full disk for a moment must not end the heartbeat (D8)
                self.echo(f"heartbeat not written ({type(e).__name__}: {e}); trying again")
            await asyncio.sleep(TICK)

    async def supervise(self) -> None:
        """Heartbeat every tick; health every ``spec.health.interval``; restart on failure."""
        health = self.agent.spec.health
        restart = self.agent.spec.restart
        next_probe = time.monotonic() + health.interval
        attempt = 0
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), TICK)
                return
            except asyncio.TimeoutError:
                pass
            if not (health.enabled or self.failure) or (time.monotonic() < next_probe and not self.failure):
                continue
            next_probe = time.monotonic() + health.interval
            problem = await self.healthy()
            if problem is None:
                attempt = 0
                continue
            self.echo(f"unhealthy: {problem}")
            append_event(self.dir.transcript, ev.Error(error=problem))
            unlimited = restart.policy == "always"
            if restart.policy == "never" or (not unlimited and attempt >= restart.max_retries):
                why = "restart policy is never" if restart.policy == "never" else f"{attempt} restarts did not help"
                self.record(Phase.FAILED, last_error=f"{problem} ({why})")
                self.stopping.set()
                return
            delay = backoff_delay(restart.backoff, attempt)
            self.record(Phase.STARTING, last_error=problem)
            self.echo(f"restarting in {delay:g} s (attempt {attempt + 1})")
            if await self._sleep_or_stop(delay):
                return
            attempt += 1
            try:
                self.failure = None
                await self.open_session(first=False)
                assert self.state is not None
                # the error is history now: said as such, so a ready agent does not look broken
                self.record(Phase.READY, restarts=self.state.restarts + 1, last_error=f"{RECOVERED}{problem}")
                append_event(self.dir.transcript, ev.Restart(attempt=attempt, session_id=self.state.session_id))
            except Exception as e:  # noqa: BLE001 - a failed restart is one more failure
                self.failure = f"restart failed: {e}"

    async def _sleep_or_stop(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
            return True
        except asyncio.TimeoutError:
            return False

    async def run(self) -> int:
        """Run the agent until it is stopped; the exit status of the runner process."""
        try:
            with self.dir.lock() as inode:
                self.lock_inode = inode
                return await self._run_locked()
        except BlockingIOError:
            self.echo(f"agent {self.agent.name} is already running")
            return ALREADY_RUNNING

    async def _run_locked(self) -> int:
        previous = self.dir.read_state()
        me = os.getpid()
        self.state = AgentState(
            name=self.agent.name,
            state=Phase.STARTING,
            pid=me,
            pid_start=process_start(me) or 0,
            spec_path=str(self.agent.spec_path),
            runtime=self.runtime.name,
            isolation=self.runtime.isolation,
            started_at=time.time(),
            parent=self.parent,
            provider=self.provider.name,
            account=self.provider_ctx.account,
            # only a restart goes on with the old conversation: with `session: fresh` a CLI that
            # died before the first turn must not resume the previous run's (review D21)
            session_id=previous.session_id if previous and self.resume else None,
            restarts=previous.restarts if previous and self.resume else 0,
            turns=previous.turns if previous else 0,
            host=this_host(),
            # why a placed agent was queued again (its job ended from outside), now history
            last_error=_recovered(previous.last_error)
            if previous and self.resume and previous.state == Phase.QUEUED and previous.last_error
            else None,
            placement=self.placed[0].name if self.placed else None,
            job_id=self.placed[1].job_id if self.placed else None,
        )
        if previous:
            self.state.add(previous)  # usage counts across runs
        self.record()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.stopping.set if self.placed is None else self.ended_from_outside)
        if self.placed is not None:
            if self.placed[1].drain_signal:
                loop.add_signal_handler(self.placed[1].drain_signal, self.time_is_up)
        beating = asyncio.create_task(self.heartbeat())
        server = None
        try:
            if previous and previous.instance:  # a runner killed with -9 left its instance behind
                await asyncio.to_thread(self.runtime.stop, self.agent, previous.instance, 1.0)
            self.record(step="preparing its HOME and workdir")
            self.launch = self.prepare()
            self.record(step=f"setting up its model ({self.provider.name})")
            provided = await asyncio.to_thread(self.provider.environment, self.agent, self.provider_ctx)
            self.env = {**BASE_ENV, **dict.fromkeys(self.blank, ""), **provided, **self.broker_env()}
            await self.open_session(first=True)
            server = self.control_server = await control.serve(self.dir.socket, self.handle)
            if self.placed is not None:
                await self.serve_control_tcp(self.placed[1].address)
            await self.serve_transports()
            self.echo(f"agent {self.agent.name}: session open on {self.runtime.name}")
            failed = []
            prompts = self.agent.spec.startup_prompts
            for i, prompt in enumerate(prompts, 1):
                if self.stopping.is_set():
                    break
                self.record(step=f"startup prompt {i} of {len(prompts)}")
                answer = await self.send(prompt, self.agent.spec.claude.turn_timeout, source="startup")
                self.echo(f"startup: {answer.text or answer.error}")
                if not answer.ok:  # `start` says so (and fails) instead of a bare "ready"
                    failed.append(f"startup prompt {i}: {answer.error}")
            if not self.stopping.is_set():
                self.record(Phase.READY, startup_errors=failed, step=None)
                await self.supervise()
            return 0 if self.state.state != Phase.FAILED else 1
        except Exception as e:  # noqa: BLE001 - report, clean up, exit 1
            message = str(e) or type(e).__name__
            self.record(Phase.FAILED, last_error=message)
            append_event(self.dir.transcript, ev.Error(error=message))
            self.echo(f"failed: {message}")
            if os.environ.get("SAC_DEBUG"):
                raise
            return 1
        finally:
            await self._shutdown(self.control_server or server)
            beating.cancel()
            self.beat()

    # -- placed in a job (Slurm) -------------------------------------------------------------

    async def serve_control_tcp(self, address: str) -> None:
        """Serve the control requests over TCP on this node too, for sac on the submitting
        host (the Unix socket is node-local); the token is new every run, in a 0600 file
        beside the state, on the filesystem both hosts share."""
        import secrets

        token = secrets.token_urlsafe(32)
        write_atomic(self.dir.path(control.TOKEN_FILE), token.encode() + b"\n", mode=0o600)
        self.tcp_server, url = await control.serve_tcp(address, self.handle, token)
        self.record(control_url=url)
        self.echo(f"control: {url}")

    def time_is_up(self) -> None:
        """The job's time is nearly up (its placement's drain signal): finish the current turn,
        take no new one, stop, then requeue (sac.placing: the same session goes on)."""
        if self.draining or self.stopping.is_set():
            return
        self.draining = True
        self.echo("the job's time is nearly up: finishing the current turn, then requeueing")
        self.record(step="time is up: finishing the current turn, then requeueing")

        async def drain() -> None:
            while self.session is not None and self.session.in_turn and not self.stopping.is_set():
                await asyncio.sleep(0.2)
            if not self.stopping.is_set():  # a stop (or an end from outside) meanwhile wins
                self.ending = "requeue"
                self.stopping.set()

        self._drain = asyncio.ensure_future(drain())

    def ended_from_outside(self) -> None:
        """SIGTERM in a job: sac's own stop (it leaves STOP_REQUESTED first) just stops;
        anything else (``scancel``, a node going down) ends the job without the agent's
        owner asking, and the restart policy decides whether it is submitted again."""
        if not self.stopping.is_set() and not self.dir.path(STOP_REQUESTED).exists() and self.ending is None:
            restart = self.agent.spec.restart
            assert self.state is not None
            again = restart.policy == "always" or (
                restart.policy == "on-failure" and self.state.restarts < restart.max_retries
            )
            why = f"its job {self.state.job_id} was ended from outside sac (scancel, or the node)"
            self.echo(why + ("; submitting it again (spec.restart)" if again else ""))
            if again and self.resubmit is not None:
                self.state.last_error = why
                self.ending = "resubmit"
            else:  # not a stop its owner asked for: failed, unless the scheduler runs it again (after_job)
                self.state.last_error = f"{why}; not submitted again (spec.restart.policy: {restart.policy})"
                self.ending = "ended"
        self.stopping.set()

    async def after_job(self) -> None:
        """What a placed runner does last, once everything is stopped and recorded: requeue
        its job (time up), or submit the agent again (ended from outside)."""
        if self.ending is None or self.placed is None or self.lost or self.dir.path(STOP_REQUESTED).exists():
            if self.state is not None and self.state.state == Phase.QUEUED and not self.lost:
                self.record(Phase.STOPPED)  # its owner's stop came in between: it stops after all
            return
        assert self.state is not None
        placement, here = self.placed
        if self.ending in ("resubmit", "ended"):  # a SIGTERM sac did not send: the scheduler's own requeue?
            try:
                by_scheduler = await asyncio.to_thread(placement.requeued, here)
            except Exception as e:  # noqa: BLE001 - cannot tell: submitting again is the safe side of a lost agent
                self.echo(f"could not ask whether job {here.job_id} was requeued ({e})")
                by_scheduler = False
            if by_scheduler:  # it runs again by itself: a second submission would be a second agent
                self.record(Phase.QUEUED, step="requeued by the scheduler", last_error=None, control_url=None)
                self.echo(f"job {here.job_id} was requeued by the scheduler: not submitting it again")
                return
            if self.ending == "ended":  # and its restart policy says not again: it failed, and says why
                self.record(Phase.FAILED, step=None)
                return
        if self.ending == "requeue":
            try:
                self.record(Phase.QUEUED, step="requeued: its job's time was up", control_url=None)
                await asyncio.to_thread(placement.requeue, here)
                self.echo(f"requeued job {here.job_id}")
                return
            except Exception as e:  # noqa: BLE001 - then a new job instead
                self.echo(f"requeue failed ({e}); submitting the agent again")
        try:
            job = await asyncio.to_thread(self.resubmit, self.state)
            self.echo(f"submitted again as job {job}")
        except Exception as e:  # noqa: BLE001 - nothing more to do than say it
            self.record(
                Phase.FAILED, last_error=f"{self.state.last_error or 'its job ended'}; resubmitting failed: {e}"
            )
            self.echo(f"resubmitting failed: {e}")

    async def serve_transports(self) -> None:
        assert self.state is not None  # _run_locked sets it before serving anything
        port = RunnerPort(self)
        if self.placed is not None:
            port.address = self.placed[1].address
        for transport in self.transports:
            serving = await transport.serve(self.agent, port)
            if serving is not None:
                self.serving.append(serving)
                tokens = dict(self.state.token_files)
                if serving.token_file:
                    tokens[transport.name] = serving.token_file
                self.record(urls={**self.state.urls, transport.name: serving.url}, token_files=tokens)
                self.echo(f"{transport.name}: {serving.url}")

    async def _shutdown(self, server: Any) -> None:
        """Close the socket and the session, stop the instance; record what is left."""
        assert self.state is not None
        # a placed runner whose job goes on (requeued, or submitted again) is queued, never
        # stopped for a moment: status must not say its owner stopped it. One ended from
        # outside under a policy that says not again failed, or the scheduler requeued it:
        # after_job asks, then says which; until then it is stopping.
        after = self.placed is not None and not self.lost and not self.dir.path(STOP_REQUESTED).exists()
        final = Phase.STOPPED
        if self.state.state == Phase.FAILED:
            final = Phase.FAILED
        elif after and self.ending in ("requeue", "resubmit"):
            final = Phase.QUEUED
        elif after and self.ending == "ended":
            final = Phase.STOPPING
        if final in (Phase.STOPPED, Phase.STOPPING):
            self.record(Phase.STOPPING)
        for serving in self.serving:
            try:
                await serving.stop()
            except Exception as e:  # noqa: BLE001 - stopping goes on
                self.echo(f"stopping {serving.url} failed: {e}")
        if server is not None:
            server.close()
        if self.tcp_server is not None:
            self.tcp_server.close()
        if not self.lost:
            self.dir.socket.unlink(missing_ok=True)
        if self.session is not None:
            old = self.cli_process()
            await self.session.close()
            self.reap(old)
        instance = self.instance
        if instance is not None:
            try:
                await asyncio.to_thread(self.runtime.stop, self.agent, instance, 5.0)
                instance = None
            except Exception as e:  # noqa: BLE001 - keep it in state: `sac agents stop` retries it
                self.echo(f"stopping the instance failed: {e}")
        self.record(final, instance=instance, urls={}, token_files={}, control_url=None)
        if not self.lost:  # the token may be a new runner's by now
            self.revoke_broker()
        await self.after_job()


class RunnerPort(AgentPort):
    """The runner as transports see it."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        agent = runner.agent
        st = runner.state
        self.name = agent.name
        self.card = {
            "description": agent.document.metadata.description or f"sac agent {agent.name}",
            "skills": agent.document.metadata.capabilities,
            "isolation": {
                "level": runner.instance.isolation if runner.instance else runner.runtime.isolation,
                "runtime": runner.runtime.name,
                "relaxed": list(runner.instance.relaxed) if runner.instance else [],
            },
            "session_id": st.session_id if st else None,
        }

    async def turn(
        self,
        text: str,
        timeout: float | None = None,
        on_text: Any = None,
        source: str = "transport",
        on_start: Any = None,
    ) -> TurnResult:
        r = self._runner
        if timeout is not None and timeout <= 0:
            return TurnResult.failure("bad_request", "timeout must be a number of seconds > 0")
        if not text.strip():
            return TurnResult.failure("bad_request", "the prompt is empty")
        return await r.send(
            text, timeout or r.agent.spec.claude.turn_timeout, source=source, on_text=on_text, on_start=on_start
        )

    async def interrupt(self, turn: int | None = None) -> bool:
        return self._runner.session is not None and await self._runner.session.interrupt(turn)

    def body_problems(self, body: bytes, type_: type) -> list[str]:
        from sac.spec.load import body_problems

        return body_problems(body, type_)
