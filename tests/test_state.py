"""sac.state: an agent's runtime dir. State files round-trip, are private and replaced
atomically; links planted in the runtime dir are refused or replaced, never written through;
a corrupt file reads as absent; the lock admits one runner; transcripts survive a torn line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from sac.errors import SacError
from sac.state import AgentDir, AgentState, Heartbeat


def state(name: str = "a", **kw) -> AgentState:
    fields = {"name": name, "state": "ready", "pid": os.getpid(), "pid_start": 1, "spec_path": "/s", "runtime": "local"}
    return AgentState(**{**fields, **kw})


def test_state_round_trips_in_the_documented_place_private_to_its_owner(home):
    d = AgentDir("a")
    d.make()
    old = os.umask(0o000)  # whatever the umask: the dir 0700, the files 0600
    try:
        d.write_state(state(turns=3, urls={"a2a": "http://x"}, last_error="boom"))
        d.write_heartbeat(Heartbeat(time=5.0, state="busy", pid=7, busy_since=4.0))
    finally:
        os.umask(old)
    root = home / "runtime" / "a"
    assert d.root == root
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for f in ("state.json", "heartbeat.json"):
        assert stat.S_IMODE((root / f).stat().st_mode) == 0o600, f
    on_disk = json.loads((root / "state.json").read_text())
    assert (on_disk["name"], on_disk["state"], on_disk["turns"], on_disk["urls"]) == (
        "a",
        "ready",
        3,
        {"a2a": "http://x"},
    )
    assert on_disk["updated_at"] > 0  # stamped on every write
    got = d.read_state()
    assert (got.turns, got.last_error, got.urls) == (3, "boom", {"a2a": "http://x"})
    beat = d.read_heartbeat()
    assert (beat.time, beat.state, beat.pid, beat.busy_since) == (5.0, "busy", 7, 4.0)
    assert sorted(p.name for p in root.iterdir()) == ["heartbeat.json", "state.json"]  # no temp files left


def test_a_reader_never_sees_half_a_state_file(home):
    """Another process (status) reads while the runner rewrites: every read decodes, to the
    old content or the new, never an empty or torn file."""
    d = AgentDir("a")
    d.make()
    d.write_state(state(last_error="x" * 50_000))
    stop, torn = threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            if d.read_state() is None:
                torn.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(100):
            d.write_state(state(turns=i, last_error=("y" if i % 2 else "x") * (50_000 + i)))
    finally:
        stop.set()
        reader.join()
    assert torn == []
    assert d.read_state().turns == 99


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b'{"name": "a"}',
        b'{"name": "a", "state": "dancing", "pid": 1, "pid_start": 1, "spec_path": "", "runtime": ""}',
        b"\xff\xfe",
        b"[]",
    ],
    ids=["empty", "torn", "fields-missing", "unknown-phase", "not-utf8", "not-an-object"],
)
def test_a_corrupt_state_file_reads_as_absent_and_is_said_unreadable(home, content):
    d = AgentDir("a")
    d.make()
    (d.root / "state.json").write_bytes(content)
    (d.root / "heartbeat.json").write_bytes(content)
    (d.root / "cli.pid").write_bytes(content)
    assert d.read_state() is None
    assert d.state_unreadable() is True
    assert d.read_heartbeat() is None
    assert d.cli_pid() is None
    assert d.runner_alive() is False


def test_missing_files_read_as_absent_but_not_unreadable(home):
    d = AgentDir("a")
    assert (d.read_state(), d.read_heartbeat(), d.cli_pid(), d.lock_holder()) == (None, None, None, None)
    assert d.state_unreadable() is False
    (home / "runtime" / "a").mkdir(parents=True)
    (home / "runtime" / "a" / "cli.pid").write_text("4242\n")
    assert d.cli_pid() == 4242


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "", "-rf", ".hidden"])
def test_an_agent_dir_is_never_a_path(home, name):
    with pytest.raises(SacError):
        AgentDir(name)


@pytest.fixture
def decoy(tmp_path) -> Path:
    """Stands for a file of the owner's that a link planted in the runtime dir points at."""
    d = tmp_path / "decoy"
    d.mkdir()
    (d / "target").write_text("the owner's file\n")
    os.chmod(d / "target", 0o644)
    return d


def test_a_runtime_dir_that_is_a_link_is_refused(home, decoy):
    (home / "runtime").mkdir()
    (home / "runtime" / "a").symlink_to(decoy)
    os.chmod(decoy, 0o755)
    with pytest.raises(SacError, match="link"):
        AgentDir("a").make()
    assert stat.S_IMODE(decoy.stat().st_mode) == 0o755  # not chmod'ed through the link
    with pytest.raises(SacError):
        with AgentDir("a").lock():
            pass
    assert sorted(p.name for p in decoy.iterdir()) == ["target"]


@pytest.mark.parametrize("file", ["state.json", "heartbeat.json"])
def test_a_state_file_that_is_a_link_is_replaced_not_written_through(home, decoy, file):
    d = AgentDir("a")
    d.make()
    (d.root / file).symlink_to(decoy / "target")
    if file == "state.json":
        d.write_state(state())
    else:
        d.write_heartbeat(Heartbeat(time=1.0, state="ready", pid=1))
    assert not (d.root / file).is_symlink()
    assert (decoy / "target").read_text() == "the owner's file\n"
    assert stat.S_IMODE((decoy / "target").stat().st_mode) == 0o644


def test_a_lock_file_that_is_a_link_is_refused(home, decoy):
    d = AgentDir("a")
    d.make()
    (d.root / "lock").symlink_to(decoy / "target")
    with pytest.raises(OSError):
        with d.lock():
            pass
    assert d.lock_holder() is None
    assert (decoy / "target").read_text() == "the owner's file\n"


def test_the_lock_admits_one_runner_and_names_it(home):
    d = AgentDir("a")
    with d.lock() as inode:
        assert d.still_locked(inode)
        # another process (a second `start`) cannot take it, and reads who holds it
        probe = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    print('held')\n"
        )
        done = subprocess.run(["python3", "-I", "-c", probe, str(d.path("lock"))], capture_output=True, text=True)
        assert done.stdout == "held\n", done.stderr
        with pytest.raises(BlockingIOError):
            with AgentDir("a").lock():
                pass
        holder = d.lock_holder()
        assert holder is not None and holder[0] == os.getpid()
        assert d.path("lock").read_text().split()[0] == str(os.getpid())
        # the runtime dir deleted under the runner: its lock is no longer the agent's lock
        os.rename(d.root, d.root.with_name("a.old"))
        assert not d.still_locked(inode)
    assert AgentDir("a", root=d.root.with_name("a.old")).lock_holder() is None  # released on exit


def test_runner_alive_needs_the_pid_and_its_start_time(home):
    me = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    d = AgentDir("a")
    assert d.runner_alive(state(pid=os.getpid(), pid_start=me))
    assert not d.runner_alive(state(pid=os.getpid(), pid_start=me + 1))  # a reused pid
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert not d.runner_alive(state(pid=gone.pid, pid_start=me))
    d.make()
    d.write_state(state(pid=os.getpid(), pid_start=me))
    assert d.runner_alive()  # reads state.json when not given one


@pytest.mark.parametrize("file", ["state.json", "heartbeat.json", "cli.pid"])
def test_a_link_an_agent_planted_in_its_runtime_dir_is_never_read_through(home, file):
    """An agent that links its state.json to another agent's must not be shown as that one
    (its spec, its URLs and token files): the host reads only regular files there."""
    other, mine = AgentDir("other"), AgentDir("mine")
    for d in (other, mine):
        d.make()
    other.write_state(state("other", last_error="the other's"))
    other.write_heartbeat(Heartbeat(time=5.0, state="busy", pid=7))
    (other.root / "cli.pid").write_text("4242")
    (mine.root / file).symlink_to(other.root / file)
    assert (mine.read_state(), mine.read_heartbeat(), mine.cli_pid()) == (None, None, None)
    if file == "state.json":
        assert mine.state_unreadable()  # said, not taken for "never started"


def test_a_fifo_in_the_runtime_dir_never_blocks_a_reader(home):
    d = AgentDir("f")
    d.make()
    for file in ("state.json", "heartbeat.json", "cli.pid"):
        os.mkfifo(d.path(file))
    assert (d.read_state(), d.read_heartbeat(), d.cli_pid()) == (None, None, None)  # at once, not hung


def test_another_agents_state_copied_in_is_not_this_agents(home):
    d = AgentDir("mine")
    d.make()
    d.write_state(state("someone-else"))
    assert d.read_state() is None and d.state_unreadable()
