"""What this host allows a fleet, said before a start runs into it.

An agent is two processes: its runner and its claude CLI. Measured on an idle local agent
(bench/fleet.py prints these for the host it runs on): about 220 MB of RSS between them
(counted here with room to spare; forked runners share much of theirs: their PSS is lower),
12 threads (the per-user process limit, ``ulimit -u``, counts threads), about 25 file
descriptors (each process has its own limit: a fleet does not add up against one) and one
inotify instance (``fs.inotify.max_user_instances`` is per user, 128 by default: the first
limit a big fleet meets on many hosts). When a start would cross one of these the kernel
answers with ENOMEM, EAGAIN or EMFILE deep inside the claude CLI; saying it up front, with
the numbers, is the useful message.
"""

from __future__ import annotations

import os
from pathlib import Path

MB_PER_AGENT = 250  # runner (~60-72 MB) + claude CLI (~158 MB), idle RSS, with room to spare
THREADS_PER_AGENT = 12
INOTIFY_PER_AGENT = 1
FEW = 4  # fewer agents than this are not checked: it costs a scan of /proc


def fleet_warnings(n: int, *, proc: Path = Path("/proc"), nproc: int | None = None) -> list[str]:
    """Why starting ``n`` more agents may fail on this host, one sentence each (none: fine).
    ``nproc``: the per-user thread limit (default: this process's RLIMIT_NPROC, which root's
    processes are not held to)."""
    if n < FEW or not (proc / "self").is_dir():
        return []
    out = []
    available = _meminfo_mb(proc, "MemAvailable")
    if available is not None and n * MB_PER_AGENT > available:
        out.append(
            f"{n} agents need about {n * MB_PER_AGENT / 1024:.1f} GB of memory ({MB_PER_AGENT} MB each, "
            f"runner and claude CLI), and {available / 1024:.1f} GB is available: start fewer, or stop some"
        )
    threads, inotify = _mine(proc)
    soft = _nproc() if nproc is None else nproc
    if soft is not None and threads + n * THREADS_PER_AGENT > soft:
        out.append(
            f"{n} agents need about {n * THREADS_PER_AGENT} more threads ({THREADS_PER_AGENT} each); you run "
            f"{threads} and your limit is {soft} (`ulimit -u`): raise it, or start fewer"
        )
    limit = _int(proc / "sys/fs/inotify/max_user_instances")
    if limit is not None and inotify + n * INOTIFY_PER_AGENT > limit:
        out.append(
            f"{n} agents need {n * INOTIFY_PER_AGENT} more inotify instances (one per claude CLI); you use "
            f"{inotify} of {limit} (fs.inotify.max_user_instances): ask the admin to raise it "
            "(sysctl fs.inotify.max_user_instances=1024), or start fewer"
        )
    return out


def _nproc() -> int | None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    return None if soft == resource.RLIM_INFINITY or os.geteuid() == 0 else soft


def _meminfo_mb(proc: Path, key: str) -> int | None:
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _mine(proc: Path) -> tuple[int, int]:
    """Threads and inotify instances of this user's processes now (others' are not readable
    and do not count against this user's limits)."""
    uid, threads, inotify = os.getuid(), 0, 0
    for p in proc.iterdir():
        if not p.name.isdigit():
            continue
        try:
            if p.stat().st_uid != uid:
                continue
            for line in (p / "status").read_text().splitlines():
                if line.startswith("Threads:"):
                    threads += int(line.split()[1])
                    break
            for fd in os.scandir(p / "fd"):
                if os.readlink(fd.path) == "anon_inode:inotify":
                    inotify += 1
        except (OSError, ValueError):  # gone meanwhile, or not ours to read
            continue
    return threads, inotify
