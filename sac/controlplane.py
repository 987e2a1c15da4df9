"""What every side knows of this host's control plane (``sac listen``) without running it.

Its files in ``$SAC_HOME/listen/``: ``token`` (0600, made on first start), ``brokers/NAME``
(an agent's broker token: it may start siblings and nothing else), ``lock`` (held by the
running control plane) and ``listen.json`` (its pid and URL). Runners issue and revoke their
agent's broker token here, ``sac`` clients find the URL and token here, and
:func:`post_json` talks to it (and to peers). The server itself is sac.listen.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sac.errors import SacError
from sac.paths import sac_home
from sac_hookspecs.toolkit.files import private_dirs, write_atomic


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


def running() -> dict | None:
    """What listen.json says, if its process still holds the lock."""
    try:
        info = json.loads((listen_dir() / "listen.json").read_text())
    except (OSError, ValueError):
        return None
    import socket

    if info.get("host", socket.gethostname()) != socket.gethostname():
        # SAC_HOME on a filesystem other hosts share (a Slurm node): that listen's loopback
        # URL is its own host's, and its lock is seen held from everywhere
        return None
    fd = os.open(listen_dir() / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return info  # held: it runs
    finally:
        os.close(fd)
    return None


def post_json(url: str, body: dict[str, Any], token: str | None, timeout: float | None) -> dict[str, Any]:
    """POST JSON; the answer as a dict. HTTP errors become SacErrors with the server's words."""
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read()).get("error", "")
        except ValueError:
            detail = ""
        raise SacError(f"{url}: HTTP {e.code}" + (f": {detail}" if detail else "")) from None
    except urllib.error.URLError as e:
        raise SacError(f"cannot reach {url}: {e.reason}") from None


LOGIN_TTL = 120.0  # seconds a one-time sign-in link stays good


def _login_path(code: str) -> Path:
    import hashlib

    # the file is named by the code's hash: a listing of the folder gives no usable code
    return listen_dir() / "logins" / hashlib.sha256(code.encode()).hexdigest()


def new_login() -> str:
    """A one-time code for the dashboard's sign-in link (``sac listen open``): good once,
    for :data:`LOGIN_TTL` seconds. Codes are files, so the server (another process) can use
    them; old ones are swept here."""
    import time

    d = listen_dir() / "logins"
    private_dirs(d)
    for old in d.iterdir():
        try:
            if time.time() - old.lstat().st_mtime > LOGIN_TTL:
                old.unlink()
        except OSError:
            continue
    code = secrets.token_urlsafe(32)
    write_atomic(_login_path(code), b"", mode=0o600)
    return code


def use_login(code: str) -> bool:
    """True once for a fresh code made by :func:`new_login` (the file is removed: a second
    use, or a replay from history, finds nothing)."""
    import stat
    import time

    if not (16 <= len(code) <= 128) or not code.replace("-", "").replace("_", "").isalnum():
        return False
    path = _login_path(code)
    try:
        st = path.lstat()
        os.unlink(path)  # first: two requests racing with one code, one wins
    except OSError:
        return False
    # a file this user made (the folder is 0700), and still fresh
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and time.time() - st.st_mtime <= LOGIN_TTL
