"""The control plane's status routes answer from memory (sac/listen/status_cache.py) and stay
truthful: the whole status truth table (tests/test_lifecycle.py) through both routes, each
answer asked for twice; what a runner writes shows on the next request; a runner killed with
-9 shows as dead; the 30 s heartbeat rule applies on time; agents join and leave the list at
once; one agent's answer is never another's.

The app is driven in this process as granian drives it (an ASGI call per request), over
runtime dirs laid out as runners leave them, with real processes standing in for runners.
An answer read within two ticks of the file clock after a write is given once and not kept
(status_cache.settled): the tests let SETTLE pass before a read whose answer must be kept, so
that what follows is answered against a kept answer, which a cache that missed a change
would serve."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest
from test_lifecycle import ROWS, Procs, Row, check, lay_out

from sac.listen.app import ListenApp
from sac.listen.status_cache import COARSE_TICK_NS, TICK_NS, settled
from sac.state import AgentDir, Heartbeat, Phase
from sac.testing import make_agent, wait_for

TOKEN = "t" * 32
FOREVER = 3600.0  # a max_age under which only a change of the files makes it read again
SETTLE = 3 * TICK_NS / 1e9


def settle() -> None:
    time.sleep(SETTLE)


class Plane:
    """The control plane's app, one event loop, one request at a time."""

    def __init__(self) -> None:
        self.app = ListenApp(TOKEN)
        self.loop = asyncio.new_event_loop()

    def get(self, path: str) -> tuple[int, object]:
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": b"",
            "headers": [(b"authorization", f"Bearer {TOKEN}".encode())],
        }
        self.loop.run_until_complete(self.app(scope, receive, send))
        return sent[0]["status"], json.loads(sent[1]["body"])

    def status(self, name: str) -> dict:
        code, body = self.get(f"/v1/agents/{name}")
        assert code == 200, body
        assert isinstance(body, dict)
        return body

    def fleet(self) -> dict[str, dict]:
        code, body = self.get("/v1/agents")
        assert code == 200 and isinstance(body, list), body
        return {s["name"]: s for s in body}


@pytest.fixture
def plane(home):
    p = Plane()
    yield p
    p.loop.close()


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.close()


def test_the_truth_table_holds_through_both_routes_asked_twice(home, procs, plane):
    """Every row, by name and in the fleet, twice: the second answer is the one kept
    (max_age long: only a change could make it read again), with its uptime of now."""
    plane.app.statuses.max_age = FOREVER
    runners = {}
    for i, row in enumerate(ROWS.values()):
        name = f"r{i}"
        runners[name] = (row, lay_out(home, name, row, procs))
        settle()
        first, second = plane.status(name), plane.status(name)
        assert plane.app.statuses.cached(name) is not None  # the answer is kept, served from memory
        for got in (first, second):
            check(got, row, runners[name][1])
            assert got["spec"] == (f"/specs/{name}/spec.yaml" if row.phase not in (None, "corrupt") else None)
        if row.expect == "unknown":  # the pid of the process holding the lock, both times
            assert first["pid"] == second["pid"] == procs.started[-1].pid
    # a heartbeat 29 s old turns stale while the table is laid out: its answer changes, rightly
    moving = {n for n, (row, _) in runners.items() if row.beat and 25 < row.beat[1] <= 30}
    with_state = {n for n, (row, _) in runners.items() if row.phase is not None}
    for _ in range(2):
        listed = plane.fleet()
        assert set(listed) == with_state  # as `sac agents status`: no state.json, no spec: not listed
        for name in with_state - moving:
            row, runner = runners[name]
            check(listed[name], row, runner)
            assert listed[name]["spec"] == (f"/specs/{name}/spec.yaml" if row.phase != "corrupt" else None)


def test_what_a_runner_writes_shows_on_the_next_request(home, procs, plane):
    """state.json, heartbeat.json and cli.pid written as the runner and the CLI's wrapper
    write them (a new file renamed into place), and state.json edited in place: each shows on
    the next request, though the answer before it was kept (max_age long)."""
    plane.app.statuses.max_age = FOREVER
    runner = lay_out(home, "w", Row("ready", "alive", "ready", cli="alive"), procs)
    d = AgentDir("w")
    settle()
    assert plane.status("w")["state"] == "ready"
    assert plane.fleet()["w"]["state"] == "ready"

    def then(state: str) -> dict:
        settle()  # kept from here on, unless the change is seen
        got = plane.status("w")
        assert got["state"] == state, got
        listed = plane.fleet()["w"]
        assert listed == {**got, "uptime_s": listed["uptime_s"]}  # the same answer, but its uptime
        return got

    d.write_heartbeat(Heartbeat(time=time.time(), state=Phase.BUSY, pid=runner))
    then("busy")
    d.write_heartbeat(Heartbeat(time=time.time(), state=Phase.READY, pid=runner))
    then("ready")
    gone = procs.dead()[0]  # the CLI's wrapper records a new CLI, one that has exited
    d.path("cli.pid.new").write_text(str(gone))
    os.replace(d.path("cli.pid.new"), d.path("cli.pid"))
    then("unhealthy")
    st = d.read_state()
    assert st is not None
    st.state, st.turns = Phase.STOPPED, 4
    d.write_state(st)
    assert then("stopped")["turns"] == 4
    text = d.path("state.json").read_text()  # by hand, in place: the same file, other bytes
    d.path("state.json").write_text(text.replace('"stopped"', '"failed"'))
    then("failed")


def test_a_runner_killed_with_9_shows_as_dead(home, procs, plane):
    """Nothing is written when a runner is killed: the answer kept says ready until it is
    read again, within MAX_AGE; the wait here is only a ceiling for a loaded machine."""
    runner = lay_out(home, "k", Row("ready", "alive", "ready", cli="alive"), procs)
    settle()
    assert plane.status("k")["state"] == "ready"
    assert plane.fleet()["k"]["state"] == "ready"
    os.kill(runner, signal.SIGKILL)
    procs.started[0].wait()  # reaped: the pid is gone, not a zombie
    wait_for(lambda: plane.status("k")["state"] == "dead", timeout=20, what="the route to say dead")
    got = plane.fleet()["k"]
    assert got["state"] == "dead" and got["pid"] is None and got["uptime_s"] is None
    assert f"the runner (pid {runner}) is gone" in got["last_error"]


def test_a_heartbeat_turns_stale_on_time(home, procs, plane):
    """30 s after its last heartbeat a live runner is unresponsive, though no file changed and
    the answer kept would not otherwise be read again (max_age long)."""
    plane.app.statuses.max_age = FOREVER
    lay_out(home, "h", Row("ready", "alive", "ready", cli="alive", beat=("ready", 28)), procs)
    settle()
    assert plane.status("h")["state"] == "ready"
    assert plane.fleet()["h"]["state"] == "ready"
    wait_for(lambda: plane.status("h")["state"] == "unresponsive", timeout=20, what="the stale heartbeat")
    assert plane.fleet()["h"]["state"] == "unresponsive"


def test_the_uptime_is_of_each_answer(home, procs, plane):
    plane.app.statuses.max_age = FOREVER
    lay_out(home, "u", Row("ready", "alive", "ready"), procs)
    settle()
    first = plane.status("u")["uptime_s"]
    wait_for(lambda: plane.status("u")["uptime_s"] > first, timeout=20, what="the uptime to grow")


def test_agents_join_and_leave_the_list_at_once(home, procs, plane, sac):
    """A new agent folder, a runtime dir of an agent started by path (no spec on the search
    path), a deleted agent: each on the next request, though the list kept would still be."""
    plane.app.statuses.max_age = FOREVER
    make_agent(home, "one", "local")
    settle()
    assert list(plane.fleet()) == ["one"]
    make_agent(home, "two", "local")
    settle()
    listed = plane.fleet()
    assert list(listed) == ["one", "two"]
    assert listed["two"]["spec"] == str(home / "agents" / "two" / "spec.yaml")
    assert listed["two"]["state"] == plane.status("two")["state"] == "never-started"
    lay_out(home, "bypath", Row("ready", "alive", "ready"), procs)
    settle()
    assert list(plane.fleet()) == ["bypath", "one", "two"]
    assert plane.status("bypath")["state"] == "ready"
    for name, rest in (("two", ["bypath", "one"]), ("bypath", ["one"])):
        done = sac("agents", "delete", name, "-y")
        assert done.returncode == 0, done.stderr
        settle()
        assert list(plane.fleet()) == rest
        assert plane.get(f"/v1/agents/{name}")[0] == 404
    # asked for by name only (no list in between): a spec alone, then nothing
    make_agent(home, "three", "local")
    settle()
    assert plane.status("three")["state"] == "never-started"
    assert sac("agents", "delete", "three", "-y").returncode == 0
    settle()
    assert plane.get("/v1/agents/three")[0] == 404


def test_one_agents_answer_is_never_anothers(home, procs, plane):
    """Agents with files alike but for their runner and state, asked for in turns, as a fleet
    first (read together, on one thread) and singly, read and kept: every answer is its own
    agent's."""
    plane.app.statuses.max_age = FOREVER
    rows = {
        "a": Row("ready", "alive", "ready"),
        "b": Row("stopped", "dead", "stopped"),
        "c": Row("busy", "dead", "dead"),
    }
    runners = {n: lay_out(home, n, row, procs) for n, row in rows.items()}
    settle()
    for _ in range(3):
        listed = plane.fleet()
        assert list(listed) == ["a", "b", "c"]
        for name, got in listed.items():
            assert got["name"] == name
            check(got, rows[name], runners[name])
        for name in ("c", "a", "b", "a", "c"):
            got = plane.status(name)
            assert got["name"] == name
            check(got, rows[name], runners[name])


def test_a_signature_younger_than_two_ticks_cannot_vouch_for_what_was_read():
    """A file's times tick with a coarse clock (before Linux 6.13): a second write in the same
    tick as the one a stat saw leaves the same signature. So an answer read when a file had
    just changed is not kept (racy git's rule); whole-second times mean a 1 s clock."""
    now = time.time_ns()

    def sig(changed: int) -> tuple[int, int, int, int]:
        return (7, 100, changed, changed)

    assert settled((sig(now - 3 * TICK_NS), None), now)
    assert settled((None, None), now)  # nothing there: nothing to change unseen
    assert not settled((sig(now - TICK_NS), sig(now - 3 * TICK_NS)), now)
    assert not settled((sig(now - 3 * TICK_NS), sig(now - TICK_NS)), now)
    assert not settled(((7, 100, now - 3 * TICK_NS, now),), now)  # a chmod just now: the ctime
    whole = now - now % COARSE_TICK_NS - COARSE_TICK_NS  # a second or two ago, on a 1 s clock
    assert not settled((sig(whole),), now)
    assert settled((sig(whole - 2 * COARSE_TICK_NS),), now)


def test_one_agents_stuck_or_failing_reading_never_holds_or_fails_anothers(home, monkeypatch):
    """Review: the fleet route read every agent in one batch, and a request for one of them
    waited on that batch: an agent whose read hung (a stalled NFS, a planted fifo) held
    another agent's status, one whose read raised made it a 500."""
    import threading

    from sac.listen import status_cache
    from sac.state import AgentState

    for name in ("a", "b", "c"):
        d = AgentDir(name)
        d.make()
        d.write_state(AgentState(name=name, state=Phase.STOPPED, pid=0, pid_start=0, spec_path="/s", runtime="local"))
    entered, release = threading.Event(), threading.Event()
    real = status_cache.read_status

    def reading(d, spec=None, jobs=None):  # a hangs until released, c fails, b reads as it is
        if d.name == "a":
            entered.set()
            release.wait(30)
        if d.name == "c":
            raise OSError("c's disk is gone")
        return real(d)

    monkeypatch.setattr(status_cache, "read_status", reading)

    async def scenario() -> None:
        cache = status_cache.StatusCache()
        fleet = asyncio.ensure_future(cache.statuses(["a", "b"]))
        assert await asyncio.to_thread(entered.wait, 10)  # the fleet's reading is stuck on a
        (b,) = await asyncio.wait_for(cache.statuses(["b"]), 10)  # b answers all the same
        assert (b.name, b.state) == ("b", Phase.STOPPED)
        failing = asyncio.ensure_future(cache.statuses(["c", "b"]))
        with pytest.raises(OSError):
            await asyncio.wait_for(failing, 10)
        (b,) = await asyncio.wait_for(cache.statuses(["b"]), 10)
        assert b.name == "b"
        release.set()
        assert [s.name for s in await asyncio.wait_for(fleet, 10)] == ["a", "b"]

    asyncio.run(scenario())
