"""The runner's control socket: one JSON request per connection, one JSON answer.

Requests: ``{"op": "send", "text": ..., "timeout": s}``, ``{"op": "interrupt"}``,
``{"op": "status"}``, ``{"op": "health"}``, ``{"op": "stop"}``. Answers carry ``ok``;
failures carry ``error``, a sentence for people. The socket file is 0600 inside the
agent's runtime dir: only its owner can talk to the agent.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sac.errors import SacError

MAX_REQUEST = 8 * 1024 * 1024
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class NotRunning(SacError):
    """Nothing answers on the agent's control socket."""


if TYPE_CHECKING:
    import asyncio

#: sun_path holds 108 bytes with the terminating NUL: longer paths cannot be bound.
SOCKET_PATH_MAX = 107


async def serve(path: Path, handle: Handler) -> asyncio.AbstractServer:
    """Serve ``handle`` on a Unix socket at ``path`` (replacing a stale socket file)."""
    import asyncio  # the runner's side only: clients (`sac agents send`) never pay for it

    path.unlink(missing_ok=True)
    if len(str(path)) > SOCKET_PATH_MAX:
        raise SacError(
            f"the control socket path is too long for Unix sockets: {path}", hint="set SAC_HOME to a shorter directory"
        )

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                request = json.loads(await reader.readline())
            except (ValueError, asyncio.LimitOverrunError):
                request = None
            if not isinstance(request, dict):
                answer: dict[str, Any] = {"ok": False, "error": "the request is not a JSON object on one line"}
            else:
                try:
                    answer = await handle(request)
                except Exception as e:  # noqa: BLE001 - the caller gets a sentence, the runner lives on
                    answer = {"ok": False, "error": f"the runner failed on this request: {type(e).__name__}: {e}"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the caller went away; a turn it started still finishes
        finally:
            writer.close()

    old = os.umask(0o177)  # the socket is created 0600
    try:
        server = await asyncio.start_unix_server(client, path=str(path), limit=MAX_REQUEST)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return server


#: How often a waiting client asks whether the runner still lives (its heartbeat), and how
#: old a heartbeat may be: the runner beats every second, even in the middle of a turn.
CHECK_EVERY, STALE_AFTER = 5.0, 30.0


def runner_stalled(path: Path) -> str | None:
    """Why the runner behind control socket ``path`` cannot answer any more, or None: gone,
    or alive but its heartbeat stale (stopped, hung). A long turn keeps beating."""
    import time

    from sac.state import AgentDir

    d = AgentDir(path.parent.name, path.parent)
    state = d.read_state()
    if state is not None and not d.runner_alive(state):
        return f"its runner (pid {state.pid}) is gone"
    beat = d.read_heartbeat()
    if beat is not None and time.time() - beat.time > STALE_AFTER:
        return f"its runner has not beaten for {time.time() - beat.time:.0f} s (stopped or hung?)"
    return None


def call(path: Path, request: dict[str, Any], timeout: float | None = 30.0) -> dict[str, Any]:
    """Send one request to a runner and return its answer (blocking). With no timeout it
    waits as long as the runner lives and beats, never forever on a hung one (review D15)."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(CHECK_EVERY if timeout is None else min(timeout, CHECK_EVERY))
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise NotRunning(f"nothing answers on {path} ({e.strerror})") from None
        except PermissionError:
            raise SacError(
                f"no permission to talk to the agent on {path}", hint="agents answer only the user who started them"
            ) from None
        s.sendall(json.dumps(request).encode() + b"\n")
        chunks = []
        while not chunks or not chunks[-1].endswith(b"\n"):
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise SacError(
                        f"the agent did not answer within {timeout:g} s",
                        hint="it may still be working; see `sac agents tail`",
                    ) from None
                why = runner_stalled(path)
                if why:
                    raise SacError(
                        f"the agent cannot answer: {why}",
                        hint="see `sac agents status`; `sac agents restart` starts it again",
                    ) from None
                continue
            if not chunk:
                break
            chunks.append(chunk)
    return _answer(b"".join(chunks))


def _answer(data: bytes) -> dict[str, Any]:
    if not data:
        raise SacError(
            "the agent closed the connection without answering (did it stop or die?)",
            hint="see `sac agents status` and its runner.log",
        )
    try:
        return json.loads(data)
    except ValueError:
        raise SacError(f"the agent answered something that is not JSON: {data[:80]!r}") from None


async def acall(path: Path, request: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """``call`` for event loops (the control plane): no thread is held while a turn runs."""
    import asyncio

    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_REQUEST)
    except (FileNotFoundError, ConnectionRefusedError) as e:
        raise NotRunning(f"nothing answers on {path} ({e.strerror})") from None
    except PermissionError:
        raise SacError(f"no permission to talk to the agent on {path}") from None
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = asyncio.ensure_future(reader.readline())
        while True:
            wait = CHECK_EVERY if deadline is None else min(CHECK_EVERY, max(deadline - loop.time(), 0))
            done, _ = await asyncio.wait({line}, timeout=wait)
            if done:
                data = line.result()
                break
            if deadline is not None and loop.time() >= deadline:
                line.cancel()
                raise SacError(f"the agent did not answer within {timeout:g} s")
            why = runner_stalled(path)
            if why:
                line.cancel()
                raise SacError(f"the agent cannot answer: {why}")
    finally:
        writer.close()
    return _answer(data)
