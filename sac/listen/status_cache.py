"""The control plane's memory of the agents' status: what ``GET /v1/agents/{name}`` and
``GET /v1/agents`` serve, read again when the files the runners write change, not per request.

Reading one agent's status (:func:`sac.lifecycle.read_status`) reads state.json,
heartbeat.json and cli.pid and probes /proc for its runner and its CLI: some 100 µs, on a
thread. Here each answer is kept with the stat signature (inode, size, mtime, ctime) of the
agent's runtime dir and of its state.json, both taken *before* anything is read, and served
again from memory, on the event loop, while all three hold:

- **they are unchanged.** Every file a runner writes there is written to a new file and
  renamed into place (state.json on every change of state, heartbeat.json every second,
  cli.pid by the CLI's wrapper), and so is every file sac writes there: each rename changes
  the directory's mtime, and state.json's own inode. What a runner writes shows on the next
  request; state.json edited in place or chmod'ed too. A write between the stat and the read
  only makes the next request read again. A signature younger than two ticks of the clock
  file times come from (:func:`settled`) cannot vouch that a second write in the same tick
  would change it: such an answer is given to the requests that waited for it, never kept.
- **it is younger than** :data:`MAX_AGE`. What no stat shows is a process that ended: a
  runner killed with -9 (or its CLI) writes nothing. Every answer is read again, processes
  probed, at least every MAX_AGE, so a dead runner shows as dead within MAX_AGE of its death
  (plus the time of one reading). 0.5 s: half the runner's own heartbeat tick, sooner than
  anything could show it otherwise; it costs one reading per agent per 0.5 s while the agent
  is asked for. The same bound covers what the two stats cannot see: the other files edited
  in place (the lock is, when a new runner takes it over), a pid reused, a lock taken
  without a write, file times from another host's clock (NFS).
- **its heartbeat has not turned stale since**: a live runner's heartbeat older than
  UNRESPONSIVE_AFTER (30 s) makes it unresponsive though no file changed; the answer is read
  again at that moment (:attr:`sac.lifecycle.Reading.stale_at`).

``uptime_s`` is computed for each response. Which agents the fleet has (the spec search path
and the runtime dirs) is kept the same way (:class:`Fleet`), keyed on the config files and
the directories whose entries decide it: an agent folder or runtime dir made or removed, a
config file changed, shows on the next request; what those do not show (a spec.yaml written
into a folder that was already there, a trust problem below them) within MAX_AGE.

The two stats are lstat's: a link there is never followed (the reading itself is
sac.lifecycle's, the same as ``sac agents status``'s). Two, not one per file: a stat costs a
system call (~2 µs on a small VM), paid per agent per request, 20 times over for a fleet of 20.
The control plane serves one SAC_HOME for its life: its runtime root is taken once.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import msgspec

from sac.lifecycle import Reading, Status, read_status
from sac.state import AgentDir

#: Seconds an answer is served from memory at most, unchanged files or not (see above).
MAX_AGE = 0.5

#: A file's times come from a clock that ticks every 1-10 ms (the kernel's coarse clock, HZ
#: 100-1000; Linux 6.13 makes them finer for a file just looked at), or every second on some
#: filesystems (whole seconds in st_mtime_ns): two writes in one tick can look alike.
TICK_NS = 10_000_000
COARSE_TICK_NS = 1_000_000_000

Signature = tuple[int, int, int, int] | None  # (inode, size, mtime ns, ctime ns); None: not there
Key = tuple[Signature, ...]


def signature(path: str, *, follow: bool = False) -> Signature:
    """What a change of ``path`` changes: a rename into place gives a new inode, a write a new
    size or mtime, a chmod a new ctime. None when there is nothing to stat."""
    try:
        s = os.stat(path, follow_symlinks=follow)
    except OSError:
        return None
    return (s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)


def settled(key: Key, now_ns: int) -> bool:
    """Whether each signature in ``key``, taken at ``now_ns`` (time.time_ns()), would change
    with any later write: its file last changed two ticks or more before (one tick for the
    coarse clock to lag the fine one, one for the write to fall in a later tick). As git does
    with an index entry whose file changed when the index was written ("racy git")."""
    for sig in key:
        if sig is not None:
            changed = max(sig[2], sig[3])
            tick = COARSE_TICK_NS if changed % COARSE_TICK_NS == 0 else TICK_NS
            if now_ns - changed < 2 * tick:
                return False
    return True


class Entry(NamedTuple):
    key: Key  # the files' signatures, taken before they were read
    reading: Reading
    read_at: float  # time.monotonic() before the key was taken: the age counts from there
    settled: bool  # settled(key): else the answer is given once, never served again

    def fresh(self, key: Key, now: float, wall: float, max_age: float) -> bool:
        stale_at = self.reading.stale_at
        return (
            self.settled and key == self.key and now - self.read_at < max_age and (stale_at is None or wall <= stale_at)
        )

    def serve(self, wall: float, spec: str | None = None) -> Status:
        """The answer at ``wall``: its uptime now, and ``spec`` as status(name, spec) gives it."""
        r = self.reading
        if r.started_at is None and not spec:
            return r.status
        uptime = wall - r.started_at if r.started_at is not None else r.status.uptime_s
        return msgspec.structs.replace(r.status, uptime_s=uptime, spec=spec or r.status.spec)


class Fleet(NamedTuple):
    """Which agents there are (sac.lifecycle.known_agents over the spec search path), and
    where each one's spec is; with the paths it was read from and their signatures."""

    names: list[str]
    specs: dict[str, str]
    watched: tuple[str, ...]
    key: Key
    read_at: float
    settled: bool

    def fresh(self, now: float, max_age: float) -> bool:
        return self.settled and now - self.read_at < max_age and _signatures(self.watched) == self.key


def _signatures(paths: Iterable[str]) -> Key:
    # the config files and search-path folders are the user's own, often links: followed
    return tuple(signature(p, follow=True) for p in paths)


def read_fleet() -> Fleet:
    """Read the fleet as ``sac agents status`` does, on a thread. Each signature is taken
    before what it covers is read."""
    from sac.config import config_files, load_settings
    from sac.lifecycle import known_agents
    from sac.lookup import discover, search_path
    from sac.paths import sac_home

    read_at, wall_ns = time.monotonic(), time.time_ns()
    configs = tuple(str(path) for _, path in config_files())
    key = _signatures(configs)
    settings = load_settings()
    dirs = (*(str(d) for d in search_path(settings)), str(sac_home() / "runtime"))
    key += _signatures(dirs)
    specs = dict(discover(settings))
    names = known_agents(specs)
    return Fleet(names, {n: str(p) for n, p in specs.items()}, configs + dirs, key, read_at, settled(key, wall_ns))


class StatusCache:
    """Status answers kept for the control plane (one per ListenApp)."""

    def __init__(self, runtime: Path | None = None, max_age: float = MAX_AGE) -> None:
        from sac.paths import sac_home

        self.runtime = str(runtime or sac_home() / "runtime")
        self.max_age = max_age
        self.entries: dict[str, Entry] = {}
        # readings under way: a request that finds its agent's files as a running reading
        # found them waits for that reading instead of starting another (32 clients of one
        # agent would otherwise read it 32 times each time its heartbeat changes)
        self.pending: dict[str, tuple[Key, asyncio.Future[Entry], bool]] = {}  # (key, its answer, a fleet's?)
        self.fleet_read: Fleet | None = None
        self.fleet_pending: tuple[Key | None, asyncio.Future[Fleet]] | None = None

    def key(self, name: str) -> Key:
        """The signatures of runtime/<name>/ and of its state.json (see above)."""
        root = f"{self.runtime}/{name}"
        return (signature(root), signature(root + "/state.json"))

    def cached(self, name: str) -> Status | None:
        """``name``'s status from memory, or None: then read it with :meth:`statuses`. None
        too while it has no runtime dir: the caller must first see that the agent exists
        (has a spec), which nothing here tells."""
        key = self.key(name)
        if key[0] is None:
            self.entries.pop(name, None)
            return None
        entry = self.entries.get(name)
        wall = time.time()
        if entry is None or not entry.fresh(key, time.monotonic(), wall, self.max_age):
            return None
        return entry.serve(wall)

    async def statuses(self, names: list[str], specs: dict[str, str] | None = None) -> list[Status]:
        """The status of each of ``names`` (in that order), from memory where it is fresh;
        the others are read on a thread, all in one reading. An answer kept in memory is
        checked again after that wait: a slow reading must not serve it past its bounds."""
        found: dict[str, Entry] = {}
        todo = list(names)
        for _ in range(2):  # the second pass: what aged (or changed) while the first read
            now, wall = time.monotonic(), time.time()
            missing: dict[str, Key] = {}
            for name in todo:
                key = self.key(name)
                entry = found.get(name) or self.entries.get(name)
                if entry is not None and entry.fresh(key, now, wall, self.max_age):
                    found[name] = entry
                else:
                    found.pop(name, None)
                    missing[name] = key
            if not missing:
                break
            read = await self._read(missing)
            found.update(read)
            todo = [n for n in names if n not in read]  # just read: as fresh as it gets
        wall = time.time()
        specs = specs or {}
        return [found[name].serve(wall, specs.get(name)) for name in names]

    async def _read(self, missing: dict[str, Key]) -> dict[str, Entry]:
        """Each agent's reading: one future per agent, resolved as soon as that agent is
        read, so one slow or failing agent never holds or fails another's answer. A request
        for one agent joins only another request's reading of that one agent, never a fleet
        reading it is part of (that one may be stuck on an agent before it)."""
        loop = asyncio.get_running_loop()
        alone = len(missing) == 1
        waits: dict[str, asyncio.Future[Entry]] = {}
        new: dict[str, asyncio.Future[Entry]] = {}
        for name, key in missing.items():
            pending = self.pending.get(name)
            if pending is not None and pending[0] == key and (not alone or not pending[2]):
                waits[name] = pending[1]
            else:
                new[name] = waits[name] = loop.create_future()
                new[name].add_done_callback(_retrieved)
                self.pending[name] = (key, new[name], not alone)
        if new:
            reading = asyncio.ensure_future(asyncio.to_thread(self._read_now, list(new), loop, new))
            reading.add_done_callback(_retrieved)
        # shielded: a client that goes away must not cancel a reading others wait for
        answers = {name: await asyncio.shield(future) for name, future in waits.items()}
        if new:  # its last answer is in: the reading ends now (not left pending to its loop's end)
            await asyncio.shield(reading)
        return answers

    def _read_now(self, names: list[str], loop: asyncio.AbstractEventLoop, futures: dict) -> None:
        """On a thread: read each agent and hand its answer (or its error) to its future."""
        from sac.placing import JobBook, wanted_jobs

        jobs = JobBook()  # agents placed elsewhere (Slurm): their placement asked once for all
        try:
            jobs.ask(wanted_jobs(AgentDir(n, Path(self.runtime, n)).read_state() for n in names))
        except Exception:  # noqa: BLE001 - each agent's reading asks (and fails) on its own
            pass
        for name in names:
            try:
                read_at, wall_ns = time.monotonic(), time.time_ns()
                key = self.key(name)
                reading = read_status(AgentDir(name, Path(self.runtime, name)), jobs=jobs)
                result: Entry | BaseException = Entry(key, reading, read_at, settled(key, wall_ns))
            except Exception as e:  # noqa: BLE001 (this agent's answer is a 500; the others are not)
                result = e
            loop.call_soon_threadsafe(self._deliver, name, futures[name], result)

    def _deliver(self, name: str, future: asyncio.Future, result: Entry | BaseException) -> None:
        if name in self.pending and self.pending[name][1] is future:
            del self.pending[name]
        if isinstance(result, BaseException):
            future.set_exception(result)
            return
        kept = self.entries.get(name)
        if kept is None or kept.read_at <= result.read_at:  # a slower, older reading never wins
            self.entries[name] = result
        future.set_result(result)

    async def fleet(self) -> Fleet:
        """The fleet, from memory while its folders and config files are unchanged and it is
        younger than max_age. A SacError (a broken config, an untrusted folder) is raised
        to each request, never kept."""
        kept = self.fleet_read
        now = time.monotonic()
        if kept is not None and kept.fresh(now, self.max_age):
            return kept
        seen = _signatures(kept.watched) if kept is not None else None
        if self.fleet_pending is not None and self.fleet_pending[0] == seen:
            return await asyncio.shield(self.fleet_pending[1])
        reading = asyncio.ensure_future(self._read_fleet_on_thread())
        reading.add_done_callback(_retrieved)
        self.fleet_pending = (seen, reading)
        return await asyncio.shield(reading)

    async def _read_fleet_on_thread(self) -> Fleet:
        me = asyncio.current_task()
        try:
            fleet = await asyncio.to_thread(read_fleet)
        finally:
            if self.fleet_pending is not None and self.fleet_pending[1] is me:
                self.fleet_pending = None
        if self.fleet_read is None or self.fleet_read.read_at <= fleet.read_at:
            self.fleet_read = fleet
            known = set(fleet.names)  # forget agents that are gone (asked for again, read again)
            self.entries = {n: e for n, e in self.entries.items() if n in known}
        return fleet


def _retrieved(reading: asyncio.Future) -> None:
    """A reading whose every waiter went away: its error is not an unretrieved exception."""
    if not reading.cancelled():
        reading.exception()
