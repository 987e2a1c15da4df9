"""sac.lifecycle.status(): what ``sac agents status`` reports, as a truth table.

Each row lays out a runtime dir the way a runner leaves it (state.json, heartbeat.json,
cli.pid, lock: the on-disk format), with real processes standing in for the runner and its
CLI (a ``sleep``; a process that has exited; a zombie; a live pid with the wrong start time,
as after pid reuse), and names the state that must be reported. The whole table is then
read once more through the real CLI (``sac agents status --json``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from sac import lifecycle

URLS = {"a2a": "http://127.0.0.1:1/"}
TOKENS = {"a2a": "/nowhere/a2a.token"}


def start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat: the process's start in clock ticks since boot."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


class Procs:
    """Real processes for a test, all ended and reaped at teardown."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def alive(self) -> tuple[int, int]:
        p = subprocess.Popen(["sleep", "60"])
        self.started.append(p)
        return p.pid, start_time(p.pid)

    def dead(self) -> tuple[int, int]:
        pid, start = self.alive()
        self.started[-1].kill()
        self.started[-1].wait()
        return pid, start

    def zombie(self) -> tuple[int, int]:
        """Exited, not yet reaped: /proc still lists it (state Z)."""
        p = subprocess.Popen(["sleep", "0.05"])
        self.started.append(p)
        start = start_time(p.pid)
        deadline = time.monotonic() + 10
        while proc_state(p.pid) != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        return p.pid, start

    def lock_holder(self, lock: Path, *, names_itself: bool = True) -> int:
        """A process holding an flock on ``lock``, its pid and start time written in it as a
        runner writes them (or, names_itself=False, a pid that is gone)."""
        gone = self.dead() if not names_itself else None
        code = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "stat = open('/proc/self/stat').read().rsplit(')', 1)[1].split()\n"
            "who = sys.argv[2] if len(sys.argv) > 2 else f'{os.getpid()} {stat[19]}'\n"
            "os.ftruncate(fd, 0); os.pwrite(fd, (who + '\\n').encode(), 0)\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
        )
        args = [sys.executable, "-I", "-c", code, str(lock)] + ([f"{gone[0]} {gone[1]}"] if gone else [])
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.started.append(p)
        assert p.stdout.readline().strip() == "locked"
        return p.pid

    def close(self) -> None:
        for p in self.started:
            if p.poll() is None:
                p.kill()
            p.wait()


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.close()


@dataclass(frozen=True)
class Row:
    """One line of the table. ``phase``: what state.json says (None: no state.json,
    "corrupt": unreadable); ``runner``: the process state.json names; ``cli``: the process
    cli.pid names (None: no cli.pid); ``beat``: (heartbeat state, its age in s) or None;
    ``lock``: True, a live process holds the agent's lock and names itself in it; "gone": held,
    naming a pid that is gone; "stale": nobody holds it, it names a live pid; False: no lock file."""

    phase: str | None
    runner: str | None  # alive | dead | zombie | reused
    expect: str
    cli: str | None = None
    beat: tuple[str, float] | None = None
    lock: bool | str = False
    earlier: str | None = None  # last_error state.json already holds
    why: str | None = None  # a substring the reported last_error must contain


LIVE = ("starting", "ready", "busy", "stopping")
ROWS = {
    # no state.json: the lock, not the state file, says whether a runner lives
    "nothing-on-disk": Row(None, None, "never-started"),
    "no-state-lock-held": Row(None, None, "unknown", lock=True, why="state.json is missing"),
    "corrupt-state-lock-held": Row("corrupt", None, "unknown", lock=True, why="state.json is unreadable"),
    "corrupt-state-lock-free": Row("corrupt", None, "never-started"),
    "no-state-lock-names-a-dead-pid": Row(None, None, "never-started", lock="gone"),
    "no-state-lock-file-held-by-nobody": Row(None, None, "never-started", lock="stale"),
    # a live phase whose runner is gone, however it went, is dead (and says why now)
    **{f"{p}-runner-dead": Row(p, "dead", "dead", why="is gone without stopping its agent") for p in LIVE},
    "ready-runner-zombie": Row("ready", "zombie", "dead", why="is gone"),
    "ready-runner-pid-reused": Row("ready", "reused", "dead", why="is gone"),
    "busy-runner-dead-earlier-error-kept": Row(
        "busy", "dead", "dead", earlier="boom", why="is gone without stopping its agent (earlier: boom)"
    ),
    "ready-runner-dead-cli-alive": Row("ready", "dead", "dead", cli="alive"),
    # an ended phase is reported as it is, runner or not
    **{f"{p}-runner-{r}": Row(p, r, p) for p in ("stopped", "failed") for r in ("dead", "alive")},
    "stopped-runner-alive-stale-beat": Row("stopped", "alive", "stopped", beat=("ready", 120)),
    "failed-runner-alive-cli-dead": Row("failed", "alive", "failed", cli="dead", earlier="boom", why="boom"),
    # a live runner: the heartbeat and the CLI refine what state.json says
    **{f"{p}-runner-alive": Row(p, "alive", p) for p in LIVE},
    "ready-cli-alive-beat-fresh": Row("ready", "alive", "ready", cli="alive", beat=("ready", 1)),
    "ready-beat-busy": Row("ready", "alive", "busy", cli="alive", beat=("busy", 1)),
    "starting-beat-busy": Row("starting", "alive", "starting", beat=("busy", 1)),
    "stopping-beat-busy": Row("stopping", "alive", "stopping", beat=("busy", 1)),
    "ready-beat-29s-old-is-fresh": Row("ready", "alive", "ready", beat=("ready", 29)),
    **{f"{p}-beat-31s-old": Row(p, "alive", "unresponsive", beat=("ready", 31)) for p in LIVE},
    "ready-beat-stale-and-cli-dead": Row("ready", "alive", "unresponsive", cli="dead", beat=("ready", 31)),
    "ready-cli-dead": Row("ready", "alive", "unhealthy", cli="dead", why="claude CLI has exited"),
    "ready-cli-zombie": Row("ready", "alive", "unhealthy", cli="zombie", why="claude CLI has exited"),
    "busy-cli-dead": Row("busy", "alive", "unhealthy", cli="dead", beat=("busy", 1), why="claude CLI has exited"),
    "ready-beat-busy-cli-dead": Row(
        "ready", "alive", "unhealthy", cli="dead", beat=("busy", 1), why="claude CLI has exited"
    ),
    "starting-cli-dead": Row("starting", "alive", "starting", cli="dead"),
    "stopping-cli-dead": Row("stopping", "alive", "stopping", cli="dead"),
}


def lay_out(home: Path, name: str, row: Row, procs: Procs) -> int | None:
    """Write ``row``'s runtime dir for agent ``name``; the runner's pid (if any)."""
    rt = home / "runtime" / name
    rt.mkdir(parents=True, mode=0o700)
    runner = None
    if row.runner:
        pid, start = {"alive": procs.alive, "dead": procs.dead, "zombie": procs.zombie, "reused": procs.alive}[
            row.runner
        ]()
        runner = pid
        if row.runner == "reused":  # the pid lives, but it is another process than the runner was
            start += 1
    if row.phase == "corrupt":
        (rt / "state.json").write_text('{"name": "' + name + '", "state": "rea')
    elif row.phase is not None:
        state = {
            "name": name,
            "state": row.phase,
            "pid": runner,
            "pid_start": start,
            "spec_path": f"/specs/{name}/spec.yaml",
            "runtime": "local",
            "started_at": time.time() - 100,
            "turns": 3,
            "last_error": row.earlier,
            "urls": URLS,
            "token_files": TOKENS,
        }
        (rt / "state.json").write_text(json.dumps(state))
    if row.beat:
        beat = {"time": time.time() - row.beat[1], "state": row.beat[0], "pid": runner or 1}
        (rt / "heartbeat.json").write_text(json.dumps(beat))
    if row.cli:
        (rt / "cli.pid").write_text(
            str({"alive": procs.alive, "dead": procs.dead, "zombie": procs.zombie}[row.cli]()[0])
        )
    if row.lock in (True, "gone"):
        procs.lock_holder(rt / "lock", names_itself=row.lock is True)
    elif row.lock == "stale":  # a lock file from an earlier runner, held by nobody, naming a live pid
        pid, start = procs.alive()
        (rt / "lock").write_text(f"{pid} {start}\n")
    return runner


def check(status: dict, row: Row, runner: int | None) -> None:
    assert status["state"] == row.expect, status
    alive = row.runner == "alive" or row.expect == "unknown"
    if row.why:
        assert row.why in (status["last_error"] or ""), status
    elif row.expect != "dead":
        assert status["last_error"] == row.earlier, status
    if row.phase in (None, "corrupt"):
        return
    # what only a live runner has is shown only while it lives
    assert status["pid"] == (runner if alive else None), status
    assert status["urls"] == (URLS if alive else {}), status
    assert status["token_files"] == (TOKENS if alive else {}), status
    assert (status["uptime_s"] is not None and 99 < status["uptime_s"] < 200) is alive, status
    assert status["turns"] == 3 and status["runtime"] == "local"
    if row.expect == "dead":
        assert f"the runner (pid {runner})" in status["last_error"], status


@pytest.mark.parametrize("row", list(ROWS.values()), ids=list(ROWS))
def test_status_truth_table(home, procs, row):
    runner = lay_out(home, "a", row, procs)
    got = lifecycle.status("a")
    check({f: getattr(got, f) for f in got.__struct_fields__}, row, runner)
    if row.expect == "unknown":  # the pid of the process holding the lock
        assert got.pid == procs.started[-1].pid


def test_the_cli_reports_the_whole_table_alike(home, procs, sac):
    """``sac agents status --json`` (the fleet) reads the same files to the same rows; an agent
    without state.json is not listed (it is in no spec and has no state)."""
    runners = {f"r{i}": (row, lay_out(home, f"r{i}", row, procs)) for i, row in enumerate(ROWS.values())}
    done = sac("agents", "status", "--json", check=True)
    listed = {s["name"]: s for s in json.loads(done.stdout)}
    with_state = {n for n, (row, _) in runners.items() if row.phase is not None}
    assert set(listed) == with_state
    for name in with_state:
        row, runner = runners[name]
        check(listed[name], row, runner)


def test_one_agent_by_name_never_started_and_unknown(home, sac):
    """A name with a spec but nothing in runtime/ is never-started; a name with neither is a
    usage error (exit 2) naming what was searched."""
    spec = home / "agents" / "solo" / "spec.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec: {runtime: local}\n")
    done = sac("agents", "status", "solo", "--json", check=True)
    assert json.loads(done.stdout)["state"] == "never-started"
    assert json.loads(done.stdout)["spec"] == str(spec)
    done = sac("agents", "status", "ghost", "--json")
    assert done.returncode == 2 and "no agent 'ghost'" in done.stderr


def test_known_agents_lists_specs_and_runtime_dirs_with_state(home):
    """A deleted spec may still run: runtime dirs with a state.json count; a dir without one,
    or one whose name is not an agent name, does not."""
    for name in ("kept", "nostate", ".hidden"):
        (home / "runtime" / name).mkdir(parents=True)
    (home / "runtime" / "kept" / "state.json").write_text("{}")
    (home / "runtime" / ".hidden" / "state.json").write_text("{}")
    assert lifecycle.known_agents({"zeta": Path("/z"), "alpha": Path("/a")}) == ["alpha", "kept", "zeta"]
