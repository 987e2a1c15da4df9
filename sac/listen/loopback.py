"""The other loopback address, held and forwarded.

The dashboard's name (``sac-RANDOM.localhost``) resolves in browsers to both ``::1`` and
``127.0.0.1``, and Chromium tries ``::1`` first. ``sac listen`` serves on one of them; had
it left the other free, any user of the host could listen there on the same port and
receive the page's requests, its one-time sign-in code first (shown in review, five times
out of five). So it listens on the other one too, before it names the dashboard, and
forwards each connection there to its own server.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import threading

from sac.errors import SacError


def other_loopback(host: str) -> str | None:
    """::1 for an IPv4 loopback address, 127.0.0.1 for ::1; None for any other address."""
    ip = ipaddress.ip_address(host)
    if not ip.is_loopback:
        return None
    return "::1" if ip.version == 4 else "127.0.0.1"


def hold(host: str, port: int) -> socket.socket | None:
    """Listen on (host, port) now. None where this machine has no such address (no IPv6:
    then nobody can take it either); a SacError when another program listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as e:
        if e.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
            return None
        raise
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return None
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise SacError(
            f"cannot listen on {where} too: {e.strerror}",
            hint="another program holds it, and browsers would send the dashboard's requests there; "
            "stop it, or choose another --bind port",
        ) from None
    return sock


def forward(sock: socket.socket, target: tuple[str, int]) -> None:
    """Forward every connection ``sock`` accepts to ``target``, on a daemon thread."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:
            pass

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()

    async def main() -> None:
        server = await asyncio.start_server(client, sock=sock)
        await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(main()), name="sac-listen-loopback", daemon=True).start()
