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


async def serve(path: Path, handle: Handler) -> asyncio.AbstractServer:
    """Serve ``handle`` on a Unix socket at ``path`` (replacing a stale socket file)."""
    import asyncio  # the runner's side only: clients (`sac agents send`) never pay for it

    path.unlink(missing_ok=True)
    if len(str(path)) > 107:
        raise SacError(f"the control socket path is too long for Unix sockets: {path}",
                       hint="set SAC_HOME to a shorter directory")  # fmt: skip

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


def call(path: Path, request: dict[str, Any], timeout: float | None = 30.0) -> dict[str, Any]:
    """Send one request to a runner and return its answer (blocking)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise NotRunning(f"nothing answers on {path} ({e.strerror})") from None
        except PermissionError:
            raise SacError(f"no permission to talk to the agent on {path}",
                           hint="agents answer only the user who started them") from None  # fmt: skip
        s.sendall(json.dumps(request).encode() + b"\n")
        chunks = []
        try:
            while not chunks or not chunks[-1].endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except socket.timeout:
            raise SacError(f"the agent did not answer within {timeout:g} s",
                           hint="it may still be working; see `sac agents tail`") from None  # fmt: skip
    return _answer(b"".join(chunks))


def _answer(data: bytes) -> dict[str, Any]:
    if not data:
        raise SacError("the agent closed the connection without answering (did it stop or die?)",
                       hint="see `sac agents status` and its runner.log")  # fmt: skip
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
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.readline(), timeout)
    except asyncio.TimeoutError:
        raise SacError(f"the agent did not answer within {timeout:g} s") from None
    finally:
        writer.close()
    return _answer(data)
