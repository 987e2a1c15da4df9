"""A pre-imported runner template: pay a runner's imports once, fork each agent's runner.

A runner spends about half a second of CPU importing (the claude-agent-sdk, msgspec, the
plugins) before it does anything; on two cores that dominates a fleet's start. So a fleet
start spawns one template (sac run as ``_forkserver DIR``), which imports what a runner imports
and then forks one child per agent, as multiprocessing's forkserver does: the template is
single-threaded (a fork copies only the calling thread, so a thread before a fork would
leave locks held forever in the child) and it is the child of the process that asked, so
it has that process's environment and working directory already.

The wire: the template listens on ``DIR/sock`` (``DIR`` is a fresh 0700 directory of the
caller's, and the peer's uid is checked). A client connects and sends one JSON line
``{"argv": [...], "log": PATH, "cwd": PATH, "env": {...}}``; the template forks, the child
becomes the runner (its own session, stdin /dev/null, stdout and stderr appended to
``log``, opened without following a link) and the template answers ``{"pid": N}``, then
``{"exit": CODE}`` when the child ends, on the same connection. The template ends when its
parent closes its stdin (or dies); the runners it forked live on, as detached runners do.

Where the template cannot start, the caller spawns runners the plain way
(:func:`sac.lifecycle.spawn_runner` falls back by itself).
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import sys
import time
from pathlib import Path

READY_WITHIN = 60.0  # seconds for the template's imports (a loaded 2-core node is slow)
SPAWN_WITHIN = 15.0  # seconds for one fork's answer; past it the runner is spawned the plain way


def _warm() -> None:
    """Import what every runner imports, so each forked runner starts with it in memory."""
    import sac.runner.entry  # noqa: F401
    import sac.runner.runner  # noqa: F401
    from sac.config import load_settings
    from sac.plugins import get_plugins

    get_plugins()  # entry points read and plugin modules imported
    load_settings()
    for name in ("claude_agent_sdk", "sac.model.server", "sac.runner.session", "sac.runner.home"):
        try:
            __import__(name)
        except ImportError:  # the lean pyz, a plugin not installed: the runner imports what it has
            pass


def serve(directory: str) -> None:
    """``_forkserver DIR``: warm up, say ``ready`` on stdout, fork runners until stdin closes."""
    _warm()
    import threading

    if threading.active_count() != 1:  # an import started a thread: forking now is unsafe
        print(f"threads: {threading.active_count()}", flush=True)
        sys.exit(1)
    try:  # each child's end is watched through a pidfd (Linux 5.3)
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        print("no pidfd_open here", flush=True)
        sys.exit(1)
    path = os.path.join(directory, "sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    print("ready", flush=True)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin, selectors.EVENT_READ, "parent")
    waiting: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, the connection that asked)
    while True:
        for key, _ in sel.select():
            if key.data == "parent":  # our caller is done (or gone): stop forking, leave no trace
                os.unlink(path)
                os.rmdir(directory)
                return
            if key.data == "accept":
                conn, _ = listener.accept()
                inherited = [listener, sel, *(c for _, c in waiting.values()), *waiting]
                child = _fork_one(conn, inherited)
                if child is not None:
                    pid, pidfd = child
                    waiting[pidfd] = (pid, conn)
                    sel.register(pidfd, selectors.EVENT_READ, "child")
                else:
                    conn.close()
            else:  # a child ended: its exit status to whoever asked for it
                pidfd = key.fd
                pid, conn = waiting.pop(pidfd)
                sel.unregister(pidfd)
                _, status = os.waitpid(pid, 0)
                os.close(pidfd)
                try:
                    conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
                except OSError:  # the caller stopped listening: nothing to tell
                    pass
                conn.close()


def _fork_one(conn: socket.socket, inherited: list) -> tuple[int, int] | None:
    """Fork the runner ``conn`` asks for; ``inherited`` is what the child must close (the
    template's socket, selector, other runners' connections and pidfds)."""
    import struct

    uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
    if uid != os.getuid():  # the directory is 0700; this is the second lock on the door
        return None
    try:
        conn.settimeout(10)
        request = json.loads(conn.makefile("rb").readline())
        argv, log, cwd, env = request["argv"], request["log"], request["cwd"], request["env"]
    except (ValueError, KeyError, TypeError, OSError):
        return None
    # the log is opened here, before the fork: a refusal (a link planted there) is told to
    # the caller, as a plain spawn's open would raise it, not lost in a child with no log
    try:
        from sac.nofollow import open_append

        out = open_append(Path(log))
    except Exception as e:  # noqa: BLE001 (told, whatever it is)
        message = e.render() if hasattr(e, "render") else f"cannot open {log}: {e}"
        try:
            conn.sendall(json.dumps({"error": message}).encode() + b"\n")
        except OSError:
            pass
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        for thing in [conn, *inherited]:
            if isinstance(thing, int):
                os.close(thing)
            else:
                thing.close()
        _become_runner(argv, out, cwd, env)  # never returns
    os.close(out)
    pidfd = os.pidfd_open(pid)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    return pid, pidfd


def _become_runner(argv: list[str], out: int, cwd: str, env: dict[str, str]) -> None:
    """In the child: the same process as a runner spawned with ARGV."""
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)
        print(f"sac: runner forked from the pre-imported template (pid {os.getppid()})", file=sys.stderr, flush=True)
        _name_process(b"sac-runner")
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        # as a spawned runner sees itself (sac.lifecycle.self_command reads both)
        sys.argv = [sys.argv[0], "_runner", *argv]
        sys.orig_argv = [*sys.orig_argv[:-2], "_runner", *argv]
        from sac.runner.entry import main

        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 (the child must never return into the template's loop)
        import traceback

        traceback.print_exc()
    finally:
        # a normal interpreter exit, then leave: never unwind into the template's loop
        import threading

        shutdown = getattr(threading, "_shutdown", None)  # joins non-daemon threads, as exit does
        if shutdown is not None:
            shutdown()
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _name_process(name: bytes) -> None:
    """``ps -e``, ``top`` and ``pgrep sac-runner`` see the runner as what it is (its command
    line stays the template's: Python cannot rewrite it)."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass


class Forked:
    """A runner forked by the template, as ``subprocess.Popen`` is to a spawned one: its
    ``pid`` and ``poll()`` (None while it runs, then its exit status)."""

    def __init__(self, pid: int, conn: socket.socket, buffer: bytes) -> None:
        self.pid, self.conn = pid, conn
        self.returncode: int | None = None
        self.buffer = buffer  # what came after the pid line (its end, if it was quick)
        self.lost = False  # the template ended before the runner: its status is not ours to know

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if self.lost:  # gone or not, as the process table says (init reaps it now)
            from sac.state import process_start

            if process_start(self.pid) is None:
                self.returncode = 1
            return self.returncode
        if b"\n" not in self.buffer:
            self.conn.setblocking(False)
            try:
                chunk = self.conn.recv(4096)
            except BlockingIOError:
                return None
            except OSError:
                chunk = b""
            self.buffer += chunk
            if not chunk and b"\n" not in self.buffer:  # the template ended first
                self.conn.close()
                self.lost = True
                return self.poll()
            if b"\n" not in self.buffer:  # half a line so far
                return None
        self.returncode = int(json.loads(self.buffer.split(b"\n", 1)[0])["exit"])
        self.conn.close()
        return self.returncode


class Template:
    """The client side: start the template, fork runners from it, end it."""

    def __init__(self, command: list[str]) -> None:
        import subprocess
        import tempfile

        # a fresh 0700 directory with a random name, made atomically (mkdtemp), in the temporary
        # directory: short (a socket path has 108 bytes) and outside anything another user
        # might write to; the socket's peer is checked on both sides as well
        self.dir = tempfile.mkdtemp(prefix="sac-fork-")
        self.broken = False
        self.proc = subprocess.Popen(
            [*command, self.dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        try:
            line = self._first_line(READY_WITHIN)
            if line != b"ready\n":
                why = line.decode(errors="replace").strip() or "no answer"
                raise OSError(f"the runner template did not start: {why}")
        except BaseException:  # a stuck template, Ctrl-C during its warm-up: no process or dir left
            self.close()
            raise

    def _first_line(self, seconds: float) -> bytes:
        import select

        assert self.proc.stdout is not None
        fd, got = self.proc.stdout.fileno(), b""
        deadline = time.monotonic() + seconds
        while not got.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return b"no answer within %d s" % seconds
            chunk = os.read(fd, 256)
            if not chunk:
                break
            got += chunk
        return got

    def spawn(self, argv: list[str], log: Path) -> Forked:
        """Fork a runner with ``argv`` and its output appended to ``log``; OSError when the
        template cannot (then, and from then on, the caller spawns the plain way)."""
        import struct

        if self.broken:
            raise OSError("the runner template failed before")

        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(SPAWN_WITHIN)
        try:
            conn.connect(os.path.join(self.dir, "sock"))
            pid_, uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[:2]
            if (pid_, uid) != (self.proc.pid, os.getuid()):  # the environment goes there: only to ours
                raise OSError("the socket is not our template's")
            request = {"argv": argv, "log": str(log), "cwd": os.getcwd(), "env": dict(os.environ)}
            conn.sendall(json.dumps(request).encode() + b"\n")
            got = b""
            while b"\n" not in got:  # recv, not a buffered reader: the next line is poll()'s
                chunk = conn.recv(4096)
                if not chunk:
                    raise OSError("closed")
                got += chunk
            line, rest = got.split(b"\n", 1)
            answer = json.loads(line)
            if "error" in answer:  # the template refused (the log): as a plain spawn would say it
                conn.close()
                from sac.errors import SacError

                raise SacError(str(answer["error"]))
            pid = int(answer["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            conn.close()
            self.broken = True  # stuck or gone: the other starts need not wait for it too
            raise OSError("the runner template did not fork the runner") from None
        return Forked(pid, conn, rest)

    def close(self) -> None:
        import shutil

        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        try:
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 (a stuck template must not hold the CLI)
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
