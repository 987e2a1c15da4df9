"""sac.hostlimits: what a fleet start says before it runs into the host's limits. A /proc laid
out by the test stands for hosts this machine is not (little memory, inotify instances in use);
the real /proc is read once to show the counting works there."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sac.hostlimits import FEW, INOTIFY_PER_AGENT, MB_PER_AGENT, THREADS_PER_AGENT, _mine, fleet_warnings


def fake_proc(tmp: Path, *, available_mb: int, inotify_limit: int, procs: dict[str, tuple[int, int]]) -> Path:
    """A /proc with MemAvailable, the inotify limit, and processes: pid -> (threads, inotify fds)."""
    proc = tmp / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text(f"MemTotal: 99999999 kB\nMemAvailable: {available_mb * 1024} kB\n")
    (proc / "sys/fs/inotify").mkdir(parents=True)
    (proc / "sys/fs/inotify/max_user_instances").write_text(f"{inotify_limit}\n")
    for pid, (threads, inotify) in procs.items():
        (proc / pid / "fd").mkdir(parents=True)
        (proc / pid / "status").write_text(f"Name:\tx\nThreads:\t{threads}\n")
        for i in range(inotify):
            os.symlink("anon_inode:inotify", proc / pid / "fd" / str(i))
        os.symlink("/dev/null", proc / pid / "fd" / "99")
    return proc


def test_enough_of_everything_says_nothing(tmp_path):
    proc = fake_proc(tmp_path, available_mb=10**6, inotify_limit=10**6, procs={"1": (3, 1)})
    assert fleet_warnings(50, proc=proc, nproc=10**6) == []


def test_too_little_memory_is_said_with_the_numbers(tmp_path):
    n = 20
    proc = fake_proc(tmp_path, available_mb=n * MB_PER_AGENT - 1, inotify_limit=10**6, procs={})
    (why,) = fleet_warnings(n, proc=proc, nproc=10**6)
    assert f"{n} agents need about" in why and "GB is available" in why
    proc2 = fake_proc(tmp_path / "2", available_mb=n * MB_PER_AGENT, inotify_limit=10**6, procs={})
    assert fleet_warnings(n, proc=proc2, nproc=10**6) == []  # exactly enough is enough


def test_inotify_instances_in_use_count_against_the_limit(tmp_path):
    n = 10
    procs = {"10": (4, 2), "11": (8, 1)}  # three in use
    proc = fake_proc(tmp_path, available_mb=10**6, inotify_limit=3 + n * INOTIFY_PER_AGENT - 1, procs=procs)
    (why,) = fleet_warnings(n, proc=proc, nproc=10**6)
    assert "you use 3 of" in why and "fs.inotify.max_user_instances" in why
    ok = fake_proc(tmp_path / "2", available_mb=10**6, inotify_limit=3 + n * INOTIFY_PER_AGENT, procs=procs)
    assert fleet_warnings(n, proc=ok, nproc=10**6) == []
    assert _mine(proc) == (12, 3)


def test_threads_in_use_and_to_come_count_against_the_users_limit(tmp_path):
    n = 10
    procs = {"10": (40, 0), "11": (20, 0)}  # sixty threads running
    proc = fake_proc(tmp_path, available_mb=10**6, inotify_limit=10**6, procs=procs)
    (why,) = fleet_warnings(n, proc=proc, nproc=60 + n * THREADS_PER_AGENT - 1)
    assert "you run 60 and your limit is" in why and "ulimit -u" in why
    assert fleet_warnings(n, proc=proc, nproc=60 + n * THREADS_PER_AGENT) == []


def test_a_few_agents_are_not_checked(tmp_path):
    proc = fake_proc(tmp_path, available_mb=1, inotify_limit=0, procs={})
    assert fleet_warnings(FEW - 1, proc=proc, nproc=0) == []
    assert len(fleet_warnings(FEW, proc=proc, nproc=0)) == 3


def test_the_real_proc_counts_this_process_threads():
    stop = threading.Event()
    extra = [threading.Thread(target=stop.wait) for _ in range(3)]
    for t in extra:
        t.start()
    try:
        threads, _ = _mine(Path("/proc"))
        assert threads >= threading.active_count()
    finally:
        stop.set()
