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

from sac.controlplane import listen_dir, read_token, running
from sac.errors import SacError, UsageError
from sac.listen.loopback import forward, hold, other_loopback
from sac_hookspecs.toolkit.files import private_dirs, write_atomic

DEFAULT_BIND = "127.0.0.1:7878"
DASHBOARD_ENV = "SAC_LISTEN_DASHBOARD"


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
        info = {"pid": os.getpid(), "url": url, "host": socket.gethostname()}
        twin = other_loopback(host)
        if twin is not None:  # a loopback bind: the dashboard too
            # its origin: a name under .localhost (browsers resolve it to loopback themselves),
            # new at each start. Nobody can have planted anything in an origin that did not
            # exist before (a cached script, a service worker, a cookie), and its cookie goes
            # to no other server on this host (sac.listen.web). The name leads to both
            # loopback addresses: the other one is held too, before the name is given out.
            held = hold(twin, port)
            if held is not None:
                forward(held, (host, port))
            dashboard = f"sac-{secrets.token_hex(8)}.localhost:{port}"
            os.environ[DASHBOARD_ENV] = dashboard  # for granian's worker, which takes it out again
            info["dashboard"] = f"http://{dashboard}"
        write_atomic(d / "listen.json", json.dumps(info).encode())
        echo(f"sac listen on {url} (token in {d / 'token'})")
        if twin is not None:
            echo("the dashboard: `sac listen open` prints a one-time sign-in link")
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
