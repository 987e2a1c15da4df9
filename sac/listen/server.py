"""Running ``sac listen``: the token, the one-per-host lock, and granian.

Files in ``$SAC_HOME/listen/``: ``token`` (0600, made on first start), ``lock`` (held by
the running control plane), ``listen.json`` (its pid and URL, for ``sac peer`` and
``sac listen status``).
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import secrets
import socket
from pathlib import Path

from sac.errors import SacError, UsageError
from sac.paths import sac_home
from sac_hookspecs.toolkit.files import private_dirs, write_atomic

DEFAULT_BIND = "127.0.0.1:7878"


def listen_dir() -> Path:
    return sac_home() / "listen"


MIN_TOKEN = 16  # shorter (an empty file!) would let a guess in: refused, never served with


def read_token(create: bool = False) -> str:
    path = listen_dir() / "token"
    try:
        token = path.read_text().strip(" \t\r\n")
    except FileNotFoundError:
        if not create:
            raise SacError(f"no control-plane token at {path}", hint="start it once with `sac listen`") from None
    else:
        if len(token) < MIN_TOKEN:
            raise SacError(
                f"the control-plane token in {path} is empty or too short ({len(token)} characters)",
                hint=f"remove it (rm {path}): `sac listen` then makes a new one",
            )
        return token
    token = secrets.token_urlsafe(32)
    private_dirs(path.parent)
    write_atomic(path, token.encode(), mode=0o600)
    return token


def broker_token(agent: str) -> str:
    """A token that lets ``agent`` do one thing on this host's control plane: start a sibling
    (recorded as its child). Never the master token: a sandboxed agent must not be able to
    talk to, stop or read other agents."""
    from sac.names import check_name

    path = listen_dir() / "brokers" / check_name(agent)
    private_dirs(path.parent)
    token = secrets.token_urlsafe(32)
    write_atomic(path, token.encode(), mode=0o600)
    return token


def revoke_broker_token(agent: str) -> None:
    """Forget ``agent``'s broker token (its runner stopped, or it was deleted): a stopped
    agent's token must not start anything."""
    from sac.names import check_name

    (listen_dir() / "brokers" / check_name(agent)).unlink(missing_ok=True)


def broker_of(token: str) -> str | None:
    """The agent a broker token belongs to, if it is one (constant-time comparisons)."""
    import hmac

    d = listen_dir() / "brokers"
    for path in sorted(d.iterdir()) if d.is_dir() else []:
        try:
            known = path.read_text().strip(" \t\r\n")
            if len(known) >= MIN_TOKEN and hmac.compare_digest(known.encode(), token.encode()):
                return path.name
        except OSError:
            continue
    return None


def parse_bind(bind: str, allow_non_loopback: bool) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not (0 < int(port) < 65536):
        raise UsageError(f"--bind {bind!r}: expected HOST:PORT, e.g. {DEFAULT_BIND}")
    host = host.strip("[]") or "127.0.0.1"
    if host == "localhost":  # granian binds addresses, not names (review D18)
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise UsageError(f"--bind {bind!r}: {host!r} is not an IP address") from None
    if not loopback and not allow_non_loopback:
        raise UsageError(
            f"refusing to listen on {host}: not a loopback address",
            hint="the control plane can start and stop agents; pass --allow-non-loopback "
            "only behind a firewall you trust",
        )
    return host, int(port)


def running() -> dict | None:
    """What listen.json says, if its process still holds the lock."""
    try:
        info = json.loads((listen_dir() / "listen.json").read_text())
    except (OSError, ValueError):
        return None
    fd = os.open(listen_dir() / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return info  # held: it runs
    finally:
        os.close(fd)
    return None


def serve(host: str, port: int, echo=print) -> None:
    """Serve until interrupted. A second control plane on this host is refused."""
    d = listen_dir()
    private_dirs(d)
    fd = os.open(d / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    if not _lock_within(fd, 1.0):  # `running()` probes take the lock for an instant
        other = running() or {}
        os.close(fd)
        raise SacError(
            f"sac listen already runs on this host (pid {other.get('pid', '?')}, {other.get('url', '?')})",
            hint=f"stop it with `sac listen stop`, or see {d / 'listen.json'}",
        ) from None
    try:
        read_token(create=True)
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as granian binds: TIME_WAIT is fine
            try:
                probe.bind((host, port))
            except OSError as e:
                raise SacError(f"cannot listen on {host}:{port}: {e.strerror}", hint="choose another --bind") from None
        url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        write_atomic(d / "listen.json", json.dumps({"pid": os.getpid(), "url": url}).encode())
        echo(f"sac listen on {url} (token in {d / 'token'})")
        from granian import Granian
        from granian.constants import Interfaces, Loops

        loop = Loops.uvloop if _has("uvloop") else Loops.asyncio
        Granian(
            "sac.listen.app:create_app",
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=1,
            loop=loop,
            log_enabled=False,
        ).serve()
    finally:
        (d / "listen.json").unlink(missing_ok=True)
        os.close(fd)


def _lock_within(fd: int, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
