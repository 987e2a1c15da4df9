"""The dashboard's side of the control plane: sign-in, sessions and the page's own files.

The page lives at its own origin, ``http://sac-<random>.localhost:PORT``, new at each start
of ``sac listen`` (sac.listen.server): browsers resolve ``*.localhost`` to loopback
themselves, so it reaches this server, and no other user of the host can have planted
anything in that origin beforehand (a cached script, a service worker: both were shown to
work against a fixed 127.0.0.1 origin, which anyone may hold while sac listen is down).
Its cookie is host-only, so it goes to no other server on this host either. A session is
answered at that origin only (its Host header); anywhere else, the sign-in page.

Signing in: ``sac listen open`` makes a one-time code (sac.controlplane.new_login) and writes
the link ``/ui/login?code=...`` into a 0600 file that redirects to it (as Jupyter does: a
link handed to a browser or xdg-open is in their argv, which every user can read). That
link, used once within two minutes, sets a session cookie (HttpOnly, SameSite=Strict) and
hands the page a session *key*, which it keeps in its origin's localStorage and sends as
``X-Sac-Key`` with every API call. The bearer token never reaches the browser.

Why a key beside the cookie: a header is what a cross-site form or fetch cannot send, so it
is the CSRF defence, and a cookie alone (from a jar another program may read) is not
enough. POSTs must also come from this origin (``Origin``, ``Sec-Fetch-Site``).

The page's data comes from the same ``/v1/`` routes as the API's; this module adds no data
route. Everything here is refused without a session but ``/ui/login``, whose answer without
a good code is the sign-in page, which holds no data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

SESSION_TTL = 12 * 3600.0  # seconds a session lasts (restarting `sac listen` also ends it)
MAX_SESSIONS = 64  # the oldest goes first: sign-ins cannot grow the server without limit


@dataclass
class Raw:
    """A response that is not a JSON body (a page, a file, a redirect)."""

    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("latin-1", "replace")).digest()


class Sessions:
    """The signed-in browsers, in the server's memory: session id (the cookie) -> key.
    ``host`` is the dashboard's HOST:PORT, the only place a session is good ('': nowhere)."""

    def __init__(self, host: str = "", ttl: float = SESSION_TTL) -> None:
        self.host, self.ttl = host.lower(), ttl
        # a browser leaves out the default port: at :80, Host is the bare name
        self.hosts = {self.host, self.host.removesuffix(":80")} if self.host else set()
        self._by_id: dict[bytes, tuple[bytes, float]] = {}  # sha256(id) -> (sha256(key), expires)

    def new(self) -> tuple[str, str]:
        now = time.monotonic()
        self._by_id = {k: v for k, v in self._by_id.items() if v[1] > now}
        while len(self._by_id) >= MAX_SESSIONS:
            del self._by_id[min(self._by_id, key=lambda k: self._by_id[k][1])]
        sid, key = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._by_id[_digest(sid)] = (_digest(key), now + self.ttl)
        return sid, key

    def known(self, sid: str) -> bool:
        found = self._by_id.get(_digest(sid))
        return found is not None and found[1] > time.monotonic()

    def check(self, sid: str, key: str) -> bool:
        found = self._by_id.get(_digest(sid))
        return found is not None and found[1] > time.monotonic() and hmac.compare_digest(found[0], _digest(key))

    def drop(self, sid: str) -> None:
        self._by_id.pop(_digest(sid), None)


# -- what every page answer carries ---------------------------------------------------------

_SIGNIN_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:12vh auto;padding:0 1rem;"
    "color:#1d2329;background:#f6f7f9}code{background:#e8ebef;padding:.1rem .3rem;border-radius:4px}"
    "h1{font-size:1.4rem}@media(prefers-color-scheme:dark){body{color:#dfe3e8;background:#15191d}"
    "code{background:#262c33}}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_SIGNIN_STYLE.encode()).digest()).decode()

#: Strict: only this origin's own files, no inline script at all, no framing, no plugins.
CSP = (
    f"default-src 'none'; script-src 'self'; style-src 'self' 'sha256-{_STYLE_HASH}'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

_PAGE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),  # the sign-in link's code never leaves in a Referer
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]

_TYPES = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8", ".css": b"text/css"}


def page(status: int, body: bytes, ctype: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> Raw:
    return Raw(status, body, [(b"content-type", ctype), *_PAGE_HEADERS, *(extra or [])])


def signin_page(status: int = 401, why: str = "") -> Raw:
    """What every page route answers without a session: how to get one, and no data."""
    reason = f"<p>{html.escape(why)}</p>" if why else ""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>sac: sign in</title><style>{_SIGNIN_STYLE}</style></head><body>"
        f'<h1 id="signin">Sign in to sac</h1>{reason}'
        "<p>On the machine this control plane runs on, as its owner, run</p>"
        "<p><code>sac listen open</code></p>"
        "<p>and open the link it prints. Each link works once, for two minutes.</p></body></html>"
    )
    return page(status, body.encode(), _TYPES[".html"])


def _file(name: str) -> bytes:
    return (resources.files("sac.listen") / "ui" / name).read_bytes()


# -- who is asking ----------------------------------------------------------------------------


def cookie_name(scope: dict) -> str:
    """Per port: two control planes of one person (two SAC_HOMEs) must not overwrite
    each other's cookie, which the browser keeps per host, not per port."""
    server = scope.get("server") or ("", 0)
    return f"sac_session_{server[1]}"


def _cookies(headers: dict[str, str], name: str) -> list[str]:
    """Every value of cookie ``name``: another server on this host may have set one of the
    same name (cookies ignore ports) to push ours out; each is tried."""
    out = []
    for part in headers.get("cookie", "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name and v:
            out.append(v)
    return out


def at_dashboard(headers: dict[str, str], sessions: Sessions) -> bool:
    """The request was made to the dashboard's own origin (its Host header): a session is
    never answered under another name (DNS rebinding) or at 127.0.0.1 (anyone's origin)."""
    return headers.get("host", "").lower() in sessions.hosts


def same_origin(headers: dict[str, str]) -> bool:
    """A state-changing request came from the page itself (as far as the browser says so)."""
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    return origin is None or origin.lower() == f"http://{headers.get('host', '').lower()}"


def session_of(scope: dict, headers: dict[str, str], sessions: Sessions) -> str:
    """The session id of a signed-in browser ('' if none): its cookie, at the dashboard."""
    if not at_dashboard(headers, sessions):
        return ""
    return next((sid for sid in _cookies(headers, cookie_name(scope)) if sessions.known(sid)), "")


def api_session(scope: dict, headers: dict[str, str], method: str, sessions: Sessions) -> bool | None:
    """For an API call without a bearer token: None when it carries no session at all,
    True when its cookie, key and origin are all right, False otherwise."""
    sids = _cookies(headers, cookie_name(scope))
    key = headers.get("x-sac-key", "")
    if not sids and not key:
        return None
    if not (key and at_dashboard(headers, sessions) and any(sessions.check(sid, key) for sid in sids)):
        return False
    return method in ("GET", "HEAD") or same_origin(headers)


# -- the page's routes ------------------------------------------------------------------------


def handle(scope: dict, headers: dict[str, str], query: dict[str, str], sessions: Sessions) -> Raw:
    """Answer a request under ``/ui/`` (or ``/``)."""
    from sac.controlplane import use_login

    path, method = scope["path"], scope["method"]
    if path in ("/", "/ui"):
        return Raw(303, b"", [(b"location", b"/ui/"), *_PAGE_HEADERS])
    if path == "/ui/login":
        if method != "GET":
            return signin_page(405)
        if not at_dashboard(headers, sessions):
            return signin_page(401, "Open the link `sac listen open` gives: this is not the dashboard's address.")
        if not use_login(query.get("code", "")):
            return signin_page(401, "That sign-in link was used already, has expired, or is not one.")
        sid, key = sessions.new()
        cookie = f"{cookie_name(scope)}={sid}; Path=/; HttpOnly; SameSite=Strict; Max-Age={int(SESSION_TTL)}"
        body = _file("signed-in.html").replace(b"{key}", key.encode())
        return page(200, body, _TYPES[".html"], [(b"set-cookie", cookie.encode())])
    sid = session_of(scope, headers, sessions)
    if not sid:
        return signin_page()
    if path == "/ui/logout":
        if method != "POST" or api_session(scope, headers, method, sessions) is not True:
            return page(403, b"sign out from the page", b"text/plain")
        sessions.drop(sid)
        cookie = f"{cookie_name(scope)}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        return page(200, b"signed out", b"text/plain", [(b"set-cookie", cookie.encode())])
    if method != "GET":
        return page(405, b"GET only", b"text/plain")
    if path in ("/ui/", "/ui/index.html"):
        return page(200, _file("index.html"), _TYPES[".html"])
    name = path.removeprefix("/ui/static/")
    if name != path and name in STATIC:
        return page(200, _file(name), _TYPES["." + name.rsplit(".", 1)[1]])
    return page(404, b"no such page", b"text/plain")


#: The page's files (sac/listen/ui/), by name: nothing else of the package is served.
STATIC = ("app.js", "app.css", "keep.js")


def wants_page(path: str) -> bool:
    return path == "/" or path == "/ui" or path.startswith("/ui/")


def query_of(scope: dict) -> dict[str, Any]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
