"""What sac keeps about an agent in ``runtime/<name>/``, and how to read it truthfully.

Files (all written atomically):

- ``state.json``: :class:`AgentState`, rewritten on every change of state;
- ``heartbeat.json``: :class:`Heartbeat`, rewritten by the runner every tick;
- ``session.jsonl``: the structured transcript (appended, one event per line);
- ``lock``: held (flock) by the one runner of the agent for its whole life;
- ``control.sock``: the runner's control socket (0600);
- ``runner.log``: the runner's own output;
- ``home/``: the agent's HOME (its Claude sessions live there, so they survive restarts).

A state file says what the runner last wrote; whether the runner still lives is checked
against the process table (pid plus its start time, so a reused pid is not mistaken for
the runner) before anything is reported.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import time
from pathlib import Path

import msgspec

from sac.paths import runtime_dir
from sac_hookspecs import Instance, Usage
from sac_hookspecs.toolkit.files import write_atomic


class Phase(str, enum.Enum):
    """Where an agent is. A runner writes the first six into its state; ``status`` concludes
    the rest when the process table disagrees with the file. A ``str``, so JSON, tables and
    comparisons with plain strings see the word; the predicates are the only place that
    groups phases (what "running" means is decided once)."""

    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    DEAD = "dead"  # the state says live, the runner is gone
    UNRESPONSIVE = "unresponsive"  # the runner lives, its heartbeat is stale
    UNHEALTHY = "unhealthy"  # the runner lives, its claude CLI has exited
    UNKNOWN = "unknown"  # a runner holds the lock, its state file cannot be read
    NEVER_STARTED = "never-started"
    QUEUED = "queued"  # a placement holds a job for its runner that has not started (yet, or again)

    # the word, also in f-strings (Python 3.11 changed Enum.__format__)
    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)

    @classmethod
    def parse(cls, value: object) -> Phase | None:
        """The phase a word names (from JSON), or None."""
        # typeshed types _value2member_map_ as dict[Any, Enum]; in Phase its values are Phases
        return cls._value2member_map_.get(value) if isinstance(value, str) else None  # type: ignore[return-value]

    @property
    def is_live(self) -> bool:
        """Written by a runner that should still be running (if it is not, the agent is dead)."""
        return self in (Phase.STARTING, Phase.READY, Phase.BUSY, Phase.STOPPING)

    @property
    def has_runner(self) -> bool:
        """A runner process lives (whatever state it is in)."""
        return self.is_live or self in (Phase.UNRESPONSIVE, Phase.UNHEALTHY, Phase.UNKNOWN)

    @property
    def can_start(self) -> bool:
        """``start`` would start it (it is not up or coming up already)."""
        return self not in (Phase.STARTING, Phase.READY, Phase.BUSY, Phase.UNKNOWN, Phase.QUEUED)

    @property
    def is_settled(self) -> bool:
        """A start is over: the runner is ready, or it ended."""
        return self in (Phase.READY, Phase.STOPPED, Phase.FAILED)

    @property
    def is_over(self) -> bool:
        """It ended on purpose or by failing, and said so."""
        return self in (Phase.STOPPED, Phase.FAILED)

    @property
    def takes_turns(self) -> bool:
        """It answers (or is answering) turns."""
        return self in (Phase.READY, Phase.BUSY)


#: A heartbeat older than this means its runner is hung or gone (it beats every second).
BEAT_STALE_AFTER = 30.0

_fs_clock: dict[Path, tuple[float, float]] = {}  # folder: (its clock's time, our monotonic time then)


def filesystem_now(folder: Path) -> float:
    """Now, by the clock that stamps the files in ``folder``, read off a file written there.
    On NFS that is the file server's clock for every host, so two hosts whose own clocks
    differ still agree on how old a file is. Read again after 2 s; OSError if it cannot be."""
    mono = time.monotonic()
    known = _fs_clock.get(folder)
    if known is not None and mono - known[1] < 2.0:
        return known[0] + (mono - known[1])
    import secrets

    # a new file each time, made here (O_EXCL): never a link or a file someone left there
    probe = folder / f".clock.{secrets.token_hex(6)}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.write(fd, b"now\n")
        finally:
            os.close(fd)  # on NFS the write reaches the server, which stamps it, by close
        stamp = os.lstat(probe).st_mtime
    finally:
        probe.unlink(missing_ok=True)
    _fs_clock[folder] = (stamp, time.monotonic())
    return stamp


class AgentState(Usage, kw_only=True):
    name: str
    state: Phase
    pid: int
    pid_start: int  # the runner's start time in clock ticks since boot (/proc/PID/stat)
    spec_path: str
    runtime: str
    isolation: str = "none"
    instance: Instance | None = None
    started_at: float = 0.0
    updated_at: float = 0.0
    restarts: int = 0
    turns: int = 0
    session_id: str | None = None
    last_error: str | None = None
    parent: str | None = None  # the agent that asked for this one, when brokered
    provider: str | None = None
    account: str | None = None  # the stored credential the agent uses, for usage per account
    urls: dict[str, str] = msgspec.field(default_factory=dict)  # transport name -> where it serves the agent
    token_files: dict[str, str] = msgspec.field(default_factory=dict)  # transport name -> 0600 file of its token
    startup_errors: list[str] = msgspec.field(default_factory=list)  # startup prompts that failed, this run
    step: str | None = None  # what a starting runner is doing now (shown by `start`), None once ready
    # Where the runner runs. A local start leaves placement None; a placed one (a Slurm job)
    # names its placement, its job and, once the runner runs, the node and a TCP control
    # endpoint (token in control.token beside this file) for sac on the submitting host.
    placement: str | None = None
    job_id: str | None = None
    host: str | None = None  # the host the runner runs on (socket.gethostname() there)
    control_url: str | None = None  # tcp://ADDRESS:PORT, while the runner serves it

    def elsewhere(self) -> bool:
        """Its runner runs (or will run) on another host: the process table here says nothing
        about it; its heartbeat and its placement do."""
        if not self.placement or self.placement == "local":
            return False  # a local start: this host's process table decides, as it always did
        return bool(self.host) and self.host != this_host() or (self.state == Phase.QUEUED and self.pid == 0)


def this_host() -> str:
    """This host's name, as a runner records it in ``AgentState.host``."""
    import socket

    return socket.gethostname()


class Heartbeat(msgspec.Struct, kw_only=True):
    time: float
    state: Phase
    pid: int
    busy_since: float | None = None


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot), or None if it is gone (or a
    zombie: exited, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


class AgentDir:
    """The runtime directory of one agent."""

    def __init__(self, name: str, root: Path | None = None) -> None:
        from sac.names import check_name

        self.name = check_name(name)  # never a path: `..` must not reach rmtree
        self.root = root or runtime_dir(name)

    def path(self, file: str) -> Path:
        return self.root / file

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def socket(self) -> Path:
        return self.root / "control.sock"

    @property
    def transcript(self) -> Path:
        return self.root / "session.jsonl"

    def _read(self, file: str) -> bytes | None:
        """A file of the runtime dir as the runner wrote it: a regular file, never through a
        link (an agent can plant one in its own runtime dir: the host would read another
        agent's state as this one's), never a fifo (a read that would block a status)."""
        from sac_hookspecs.toolkit.nofollow import PlantedLink, read_bytes

        try:
            return read_bytes(self.root, file)
        except (OSError, PlantedLink):
            return None

    def read_state(self) -> AgentState | None:
        raw = self._read("state.json")
        try:
            state = None if raw is None else msgspec.json.decode(raw, type=AgentState)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        return state if state is not None and state.name == self.name else None  # not another's, copied here

    def make(self) -> None:
        """Create the runtime dir, private to its owner (transcripts hold prompts and tool output)."""
        from sac.nofollow import ensure_dir

        ensure_dir(self.root, mode=0o700)  # a link, or another user's dir, is refused (not chmod'ed through)
        os.chmod(self.root, 0o700)

    def write_state(self, state: AgentState) -> None:
        state.updated_at = time.time()
        write_atomic(self.path("state.json"), msgspec.json.encode(state), mode=0o600)

    def read_heartbeat(self) -> Heartbeat | None:
        raw = self._read("heartbeat.json")
        try:
            return None if raw is None else msgspec.json.decode(raw, type=Heartbeat)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def beat_age(self, beat: Heartbeat) -> float:
        """How long ago ``beat`` was written, for a runner on another host: the heartbeat
        file's timestamp against the filesystem's clock now (:func:`filesystem_now`), so a
        node whose clock is a minute off is neither dead while it beats nor alive after it
        stopped (review of issue 16, finding 10). Without a probe, the file's timestamp
        against our clock: never the time the node wrote."""
        try:
            written = os.lstat(self.path("heartbeat.json")).st_mtime
        except OSError:
            return max(time.time() - beat.time, 0.0)
        try:
            return max(filesystem_now(self.root.parent) - written, 0.0)
        except OSError:  # no probe (a full quota, a read-only mount): the file's stamp, never the node's clock
            return max(time.time() - written, 0.0)

    def write_heartbeat(self, beat: Heartbeat) -> None:
        write_atomic(self.path("heartbeat.json"), msgspec.json.encode(beat), mode=0o600)

    def cli_pid(self) -> int | None:
        """The CLI's pid as its wrapper last recorded it (cli.pid), if any."""
        raw = self._read("cli.pid")
        try:
            return None if raw is None else int(raw)
        except ValueError:
            return None

    def still_locked(self, inode: int) -> bool:
        """Is the lock file at its path still the one (``inode``) a runner locked? False
        when the runtime dir was deleted (or replaced) under the runner (review D6)."""
        try:
            return os.lstat(self.path("lock")).st_ino == inode
        except OSError:
            return False

    def lock_holder(self) -> tuple[int, int] | None:
        """(pid, start time) of the live runner holding this agent's lock, or None. Used
        when state.json is missing or unreadable: the lock, not the state file, says
        whether a runner lives."""
        try:
            fd = os.open(self.path("lock"), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return None  # nobody holds it (our shared lock goes with the fd)
            except BlockingIOError:
                pass
            try:
                pid, start = (int(x) for x in os.pread(fd, 64, 0).split()[:2])
            except ValueError:
                return None
            return (pid, start) if process_start(pid) == start else None
        finally:
            os.close(fd)

    def state_unreadable(self) -> bool:
        """state.json exists but cannot be read or decoded."""
        return self.read_state() is None and os.path.lexists(self.path("state.json"))

    def runner_alive(self, state: AgentState | None = None) -> bool:
        state = state or self.read_state()
        if state is not None and state.elsewhere():
            return self.alive_elsewhere(state)
        return bool(state and state.pid and process_start(state.pid) == state.pid_start)

    def alive_elsewhere(self, state: AgentState) -> bool:
        """Does the runner of ``state``, on another host, still run? Its pid means nothing
        here: it does while its state (read again) says live and it beats (the heartbeat is
        written every second onto the filesystem both hosts share)."""
        now = self.read_state()
        if now is None or not now.state.is_live or (now.pid, now.host) != (state.pid, state.host):
            return False
        beat = self.read_heartbeat()
        return beat is not None and beat.pid == now.pid and self.beat_age(beat) <= BEAT_STALE_AFTER

    @contextlib.contextmanager
    def lock(self):
        """Hold the agent's lock, or raise BlockingIOError at once if a runner holds it."""
        self.make()
        fd = os.open(self.path("lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Who holds it, for when state.json cannot be read (lock_holder, review D7).
            me = os.getpid()
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{me} {process_start(me) or 0}\n".encode(), 0)
            yield os.fstat(fd).st_ino
        finally:
            os.close(fd)  # closing releases the lock
