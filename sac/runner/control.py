"""The runner's control socket: one JSON request per connection, one JSON answer.

Requests are the tagged structs below (``{"op": "send", "text": ..., "timeout": s}``, ...),
decoded strictly: a request that is not one of them gets an error, never a guess. Answers
carry ``ok``; failures carry ``error``, a sentence for people (a turn's answer is a
:class:`sac_hookspecs.TurnResult`, whose ``reason`` says why it failed). The socket file
is 0600 inside the agent's runtime dir: only its owner can talk to the agent. A placed runner
also serves TCP, for the host that submitted it: there both sides prove they hold the agent's
token without sending it (the handshake below).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import msgspec

from sac.errors import SacError

MAX_REQUEST = 8 * 1024 * 1024


class Request(msgspec.Struct, tag_field="op", kw_only=True, forbid_unknown_fields=True):
    """What a client asks a runner."""


class Send(Request, tag="send"):
    """One turn; its answer is a TurnResult."""

    text: str
    timeout: Annotated[float, msgspec.Meta(gt=0)] | None = None  # seconds; None: spec.claude.turn_timeout
    source: str = "send"  # who asked, for the transcript


class Interrupt(Request, tag="interrupt"):
    """ESC: interrupt the running turn. Answer: ``{"ok": true, "interrupted": bool}``."""


class Health(Request, tag="health"):
    """The runner's own view of the agent. Answer: ``{"ok": true}`` and a :class:`HealthReport`."""


class AskStatus(Request, tag="status"):
    """The same answer as :class:`Health` (an older name of it)."""


class Stop(Request, tag="stop"):
    """Stop gracefully. Answer: ``{"ok": true}``."""


AnyRequest = Send | Interrupt | Health | AskStatus | Stop


class HealthReport(msgspec.Struct, kw_only=True):
    ok: bool = True
    state: str
    cli_alive: bool
    busy_since: float | None
    session_id: str | None
    restarts: int
    last_error: str | None


Handler = Callable[[AnyRequest], Awaitable[Any]]


def failure(error: str) -> dict[str, Any]:
    """The answer to a request the runner could not carry out."""
    return {"ok": False, "error": error}


def _decode(line: bytes) -> AnyRequest | str:
    """The request on ``line``, or why it is not one (a sentence)."""
    try:
        return msgspec.json.decode(line, type=AnyRequest)
    except msgspec.ValidationError as e:
        if not line.strip().startswith(b"{"):
            return "the request is not a JSON object on one line"
        return f"not a request this runner understands: {e}"
    except msgspec.DecodeError:
        return "the request is not a JSON object on one line"


class NotRunning(SacError):
    """Nothing answers on the agent's control socket."""


if TYPE_CHECKING:
    import asyncio

#: sun_path holds 108 bytes with the terminating NUL: longer paths cannot be bound.
SOCKET_PATH_MAX = 107


# -- the TCP endpoint's handshake ----------------------------------------------------------
#
# Over TCP (a placed runner, reached from the submitting host across the cluster network) the
# token itself never crosses the wire. Both sides prove they hold it, each over the other's
# fresh nonce, and the client sends nothing of its request until the server has proved it:
#
#   server: SAC-CONTROL/2 <nonce_s>
#   client: <nonce_c> <HMAC(token, client|nonce_s|nonce_c)>
#   server: <HMAC(token, server|nonce_s|nonce_c)>     (or an "unauthorized" JSON answer)
#   client: <MAC(request)> <request JSON>
#   server: <MAC(answer)> <answer JSON>
#
# The MACs use a key derived from both nonces, so a request or answer changed on the way, or
# replayed from another connection, is refused. What is not hidden is the content: prompts
# and replies cross the network readable, as they did before (docs/slurm.md, "Network trust").

#: The TCP endpoint's URL scheme and first line; a ``tcp://`` URL is an older runner's, which
#: took the token in the clear: sac no longer sends it there.
TCP_SCHEME, HELLO = "sac+tcp", b"SAC-CONTROL/2"
UNAUTHORIZED = "unauthorized: a wrong or missing token"
_NONCE_HEX = 32
#: A handshake line's bytes at most; an answer line's (its MAC and a space included).
LINE_MAX, ANSWER_MAX = 256, MAX_REQUEST + 128
#: Before it proves the token, a connection gets this long and no more than this many
#: others at once: anyone on the cluster network could otherwise hold the runner's files open.
PREAUTH_WITHIN, PREAUTH_AT_ONCE = 2.0, 32


def _mac(key: bytes, label: bytes, *parts: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(key, b"\0".join((label, *parts)), hashlib.sha256).hexdigest().encode()


def _is_nonce(b: bytes) -> bool:
    return len(b) == _NONCE_HEX and all(c in b"0123456789abcdef" for c in b)


class Session:
    """The client's side of one authenticated TCP connection (sans I/O: ``call`` and ``acall``
    move the bytes). Raises :class:`SacError` when the server does not prove the token."""

    def __init__(self, token: bytes, where: str) -> None:
        import secrets

        self.token, self.where = token, where
        self.nonce_c = secrets.token_hex(_NONCE_HEX // 2).encode()
        self.nonce_s = self.key = b""

    def greet(self, hello: bytes) -> bytes:
        """Our proof, for the server's first line."""
        word, _, nonce_s = hello.strip().partition(b" ")
        if word != HELLO or not _is_nonce(nonce_s):
            raise SacError(
                f"{self.where} does not speak sac's control protocol (it said {hello[:40]!r})",
                hint="the runner may have ended and another program taken its port; see `sac agents status`",
            )
        self.nonce_s = nonce_s
        self.key = _mac(self.token, b"session", nonce_s, self.nonce_c)
        return self.nonce_c + b" " + _mac(self.token, b"client", nonce_s, self.nonce_c) + b"\n"

    def check(self, line: bytes) -> None:
        """The server's proof. Nothing before it is authenticated, so nothing in its place is
        ever taken for an answer: a refusal or anything else raises."""
        import hmac

        if line.strip() == msgspec.json.encode(failure(UNAUTHORIZED)):
            raise SacError(
                f"{self.where} refused the token in {TOKEN_FILE} (or something between changed ours)",
                hint="agents answer only the user who started them; see `sac agents status`",
            )
        if not hmac.compare_digest(line.strip(), _mac(self.token, b"server", self.nonce_s, self.nonce_c)):
            raise SacError(
                f"{self.where} did not prove it holds the agent's token: nothing was sent to it",
                hint="another program may hold the runner's port; see `sac agents status`",
            )

    def seal(self, request: Request) -> bytes:
        body = msgspec.json.encode(request)
        return _mac(self.key, b"request", body) + b" " + body + b"\n"

    def open(self, line: bytes) -> bytes:
        """The answer's JSON, once its MAC is right."""
        import hmac

        mac, _, body = line.rstrip(b"\n").partition(b" ")
        if not hmac.compare_digest(mac, _mac(self.key, b"answer", body)):
            raise SacError(f"the answer from {self.where} failed its integrity check (changed on the network?)")
        return body


async def _read_line(reader: Any, within: float) -> bytes | None:
    """A handshake line, newline included: at most LINE_MAX bytes within ``within`` s, and
    nothing after it (each side waits for the other's line); None otherwise."""
    import asyncio

    buf = b""

    async def read() -> None:
        nonlocal buf
        while b"\n" not in buf and len(buf) <= LINE_MAX:
            chunk = await reader.read(LINE_MAX + 1 - len(buf))
            if not chunk:
                return
            buf += chunk

    try:
        await asyncio.wait_for(read(), within)
    except asyncio.TimeoutError:
        return None
    line, nl, rest = buf.partition(b"\n")
    return line + nl if nl and not rest else None


async def _authenticate(reader: Any, writer: Any, token: bytes) -> bytes | None:
    """The server's side of the handshake: the session key, or None (and the refusal sent)."""
    import hmac
    import secrets

    nonce_s = secrets.token_hex(_NONCE_HEX // 2).encode()
    writer.write(HELLO + b" " + nonce_s + b"\n")
    await writer.drain()
    nonce_c, _, proof = (await _read_line(reader, PREAUTH_WITHIN) or b"").strip().partition(b" ")
    if not _is_nonce(nonce_c) or not hmac.compare_digest(proof, _mac(token, b"client", nonce_s, nonce_c)):
        # the same answer for a wrong and a missing token; nothing of the agent
        writer.write(msgspec.json.encode(failure(UNAUTHORIZED)) + b"\n")
        await writer.drain()
        return None
    writer.write(_mac(token, b"server", nonce_s, nonce_c) + b"\n")
    await writer.drain()
    return _mac(token, b"session", nonce_s, nonce_c)


def _client(handle: Handler, token: bytes | None) -> Callable[..., Awaitable[None]]:
    """One connection: (over TCP, the handshake first, then) a request line, its answer."""
    import asyncio
    import hmac

    unproved = 0  # TCP connections in their handshake now

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal unproved
        try:
            key = None
            try:
                if token is not None:
                    if unproved >= PREAUTH_AT_ONCE:
                        return  # closed unread: proved clients get through once the others time out
                    unproved += 1
                    try:
                        key = await _authenticate(reader, writer, token)
                    finally:
                        unproved -= 1
                    if key is None:
                        return
                line = await reader.readline()
                if key is None:
                    request = _decode(line)
                else:
                    mac, _, body = line.rstrip(b"\n").partition(b" ")
                    sealed = hmac.compare_digest(mac, _mac(key, b"request", body))
                    # not sealed: changed on the way, or not from the client that proved itself
                    request = (
                        _decode(body) if sealed else "the request failed its integrity check (changed on the network?)"
                    )
            except (ValueError, asyncio.LimitOverrunError):
                request = "the request is not a JSON object on one line"
            if isinstance(request, str):
                answer: Any = failure(request)
            else:
                try:
                    answer = await handle(request)
                except Exception as e:  # noqa: BLE001 - the caller gets a sentence, the runner lives on
                    answer = failure(f"the runner failed on this request: {type(e).__name__}: {e}")
            body = msgspec.json.encode(answer)
            writer.write((body if key is None else _mac(key, b"answer", body) + b" " + body) + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the caller went away; a turn it started still finishes
        finally:
            writer.close()

    return client


async def serve(path: Path, handle: Handler) -> asyncio.AbstractServer:
    """Serve ``handle`` on a Unix socket at ``path`` (replacing a stale socket file)."""
    import asyncio  # the runner's side only: clients (`sac agents send`) never pay for it

    path.unlink(missing_ok=True)
    if len(str(path)) > SOCKET_PATH_MAX:
        raise SacError(
            f"the control socket path is too long for Unix sockets: {path}", hint="set SAC_HOME to a shorter directory"
        )
    old = os.umask(0o177)  # the socket is created 0600
    try:
        server = await asyncio.start_unix_server(_client(handle, None), path=str(path), limit=MAX_REQUEST)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    return server


#: The token of a runner's TCP control endpoint, beside its state (0600, a new one every run).
TOKEN_FILE = "control.token"


async def serve_tcp(address: str, handle: Handler, token: str) -> tuple[asyncio.AbstractServer, str]:
    """Serve ``handle`` over TCP on ``address`` (a free port), for sac on another host (a
    placed runner's submitting host): every connection starts with the handshake above, over
    ``token``. Returns the server and its URL, ``sac+tcp://ADDRESS:PORT``."""
    import asyncio
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:  # room for the connections anyone on the network may open (they are capped)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    server = await asyncio.start_server(_client(handle, token.encode()), host=address, port=0, limit=MAX_REQUEST)
    port = server.sockets[0].getsockname()[1]
    host = f"[{address}]" if ":" in address else address
    return server, f"{TCP_SCHEME}://{host}:{port}"


class _Remote(NamedTuple):
    host: str
    port: int
    token: bytes
    where: str  # for messages: "node1 (sac+tcp://10.0.0.1:4321)"


def _remote(path: Path) -> _Remote | None:
    """Where to reach the runner behind control socket ``path`` when it runs on another host
    (its state says which, and where its TCP endpoint is); None when it runs here."""
    from urllib.parse import urlsplit

    from sac.state import AgentDir
    from sac_hookspecs.toolkit.nofollow import PlantedLink, read_bytes

    d = AgentDir(path.parent.name, path.parent)
    st = d.read_state()
    if st is None or not st.elsewhere():
        return None
    if not st.control_url:
        raise NotRunning(
            f"agent {d.name} runs on {st.host or 'another host'}"
            + (f" (job {st.job_id})" if st.job_id else "")
            + " and serves no control endpoint this host can reach",
            hint="it may still be starting (see `sac agents status`); or run this command on its host",
        )
    if not d.alive_elsewhere(st):  # its port may be anyone's now: the token never goes there
        raise NotRunning(f"agent {d.name}'s runner on {st.host} is not running (its heartbeat is stale or it stopped)")
    url = urlsplit(st.control_url)
    if url.scheme == "tcp":  # before the handshake: that runner would read the token itself
        raise SacError(
            f"agent {d.name}'s runner on {st.host} was started by an older sac, whose control endpoint"
            " takes the token in the clear: sac no longer sends it there",
            hint=f"restart it with this sac: `sac agents restart {d.name}`",
        )
    if url.scheme != TCP_SCHEME or not url.hostname or not url.port:
        raise SacError(f"agent {d.name} records a control endpoint sac cannot use: {st.control_url!r}")
    try:
        token = (read_bytes(d.root, TOKEN_FILE) or b"").strip()
    except (OSError, PlantedLink):
        token = b""
    if not token:
        raise SacError(
            f"cannot read the token of agent {d.name}'s control endpoint ({d.root / TOKEN_FILE})",
            hint="agents answer only the user who started them",
        ) from None
    return _Remote(url.hostname, url.port, token, f"{st.host} ({st.control_url})")


class _Conn(NamedTuple):
    sock: socket.socket
    session: Session | None  # over TCP: the handshake's, which seals the request and opens the answer


def _recv_line(s: socket.socket, where: str, deadline: float) -> bytes:
    """One handshake line by ``deadline`` (the server sends nothing more until we answer)."""
    import time

    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotRunning(f"{where} accepted the connection but did not finish sac's handshake in time")
        s.settimeout(left)
        try:
            chunk = s.recv(LINE_MAX + 1 - len(buf))
        except TimeoutError:
            continue
        except OSError as e:
            raise NotRunning(f"{where} closed the connection during the handshake ({e.strerror or e})") from None
        if not chunk:
            break
        buf += chunk
        if len(buf) > LINE_MAX:
            raise SacError(f"{where} does not speak sac's control protocol (a handshake line over {LINE_MAX} bytes)")
    return buf


def _connect(path: Path, timeout: float) -> _Conn:
    """A connection to the runner behind ``path``: its Unix socket here, or its TCP endpoint
    (after the handshake, both sides proved, within ``timeout``) when it runs on another host."""
    import time

    remote = _remote(path)
    if remote is None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as e:
            s.close()
            raise NotRunning(f"nothing answers on {path} ({e.strerror})") from None
        except PermissionError:
            s.close()
            raise SacError(
                f"no permission to talk to the agent on {path}", hint="agents answer only the user who started them"
            ) from None
        except BaseException:
            s.close()
            raise
        return _Conn(s, None)
    deadline = time.monotonic() + timeout
    try:
        s = socket.create_connection((remote.host, remote.port), timeout=timeout)
    except OSError as e:
        raise NotRunning(f"nothing answers on {remote.where} ({e.strerror or e})") from None
    try:
        session = Session(remote.token, remote.where)
        greeting = session.greet(_recv_line(s, remote.where, deadline))
        try:
            s.sendall(greeting)
        except OSError as e:
            raise NotRunning(f"{remote.where} closed the connection during the handshake ({e.strerror or e})") from None
        session.check(_recv_line(s, remote.where, deadline))
        s.settimeout(timeout)
        return _Conn(s, session)
    except BaseException:
        s.close()
        raise


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
    if beat is not None:  # on another host: by the shared filesystem's clock (the nodes' may differ)
        age = d.beat_age(beat) if state is not None and state.elsewhere() else time.time() - beat.time
        if age > STALE_AFTER:
            return f"its runner has not beaten for {age:.0f} s (stopped or hung?)"
    return None


def call(path: Path, request: Request, timeout: float | None = 30.0) -> dict[str, Any]:
    """Send one request to a runner and return its answer (blocking). With no timeout it
    waits as long as the runner lives and beats, never forever on a hung one (review D15);
    with one, never longer, however the bytes arrive."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    s, session = _connect(path, CHECK_EVERY if timeout is None else min(timeout, CHECK_EVERY))
    with s:
        try:
            s.sendall(session.seal(request) if session else msgspec.json.encode(request) + b"\n")
        except OSError as e:
            raise SacError(f"the agent closed the connection before the request was sent ({e.strerror or e})") from None
        chunks: list[bytes] = []
        size, check_at = 0, time.monotonic() + CHECK_EVERY
        while not chunks or not chunks[-1].endswith(b"\n"):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise SacError(
                    f"the agent did not answer within {timeout:g} s",
                    hint="it may still be working; see `sac agents tail`",
                )
            if now >= check_at:  # bytes trickling in do not stand for a runner that beats
                check_at = now + CHECK_EVERY
                why = runner_stalled(path)
                if why:
                    raise SacError(
                        f"the agent cannot answer: {why}",
                        hint="see `sac agents status`; `sac agents restart` starts it again",
                    )
            until = check_at if deadline is None else min(check_at, deadline)
            s.settimeout(max(until - now, 0.01))
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except OSError as e:
                raise SacError(
                    f"the agent closed the connection without answering ({e.strerror or e})",
                    hint="see `sac agents status` and its runner.log",
                ) from None
            if not chunk:
                break
            size += len(chunk)
            if size > ANSWER_MAX:
                raise SacError(f"the agent's answer is larger than {ANSWER_MAX} bytes: not read on")
            chunks.append(chunk)
    data = b"".join(chunks)
    return _answer(session.open(data) if session and data else data)


def _answer(data: bytes) -> dict[str, Any]:
    if not data:
        raise SacError(
            "the agent closed the connection without answering (did it stop or die?)",
            hint="see `sac agents status` and its runner.log",
        )
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise SacError(f"the agent answered something that is not JSON: {data[:80]!r}") from None


async def _handshake_line(reader: Any, where: str, within: float) -> bytes:
    line = await _read_line(reader, within)
    if line is None:
        raise NotRunning(f"{where} accepted the connection but did not finish sac's handshake in time")
    return line


async def acall(path: Path, request: Request, timeout: float | None = None) -> dict[str, Any]:
    """``call`` for event loops (the control plane): no thread is held while a turn runs."""
    import asyncio

    remote = await asyncio.to_thread(_remote, path)
    where = remote.where if remote else str(path)
    try:
        if remote is None:
            reader, writer = await asyncio.open_unix_connection(str(path), limit=ANSWER_MAX)
        else:
            reader, writer = await asyncio.open_connection(remote.host, remote.port, limit=ANSWER_MAX)
    except (FileNotFoundError, ConnectionRefusedError) as e:
        raise NotRunning(f"nothing answers on {where} ({e.strerror})") from None
    except PermissionError:
        raise SacError(f"no permission to talk to the agent on {path}") from None
    except OSError as e:
        raise NotRunning(f"nothing answers on {where} ({e.strerror or e})") from None
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    session = None
    try:
        if remote is not None:
            within = CHECK_EVERY if timeout is None else min(timeout, CHECK_EVERY)
            session = Session(remote.token, remote.where)
            writer.write(session.greet(await _handshake_line(reader, where, within)))
            session.check(await _handshake_line(reader, where, within))
        writer.write(session.seal(request) if session else msgspec.json.encode(request) + b"\n")
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
    except (ValueError, asyncio.LimitOverrunError):  # StreamReader's words for a line over its limit
        raise SacError(f"the agent's answer is larger than {ANSWER_MAX} bytes: not read on") from None
    except OSError as e:
        raise NotRunning(f"{where} closed the connection ({e.strerror or e})") from None
    finally:
        writer.close()
    return _answer(session.open(data) if session and data else data)
