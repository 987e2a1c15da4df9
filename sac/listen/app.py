"""The per-host control plane: a small ASGI app over msgspec, served by granian.

Every route lives under ``/v1/``. ``/v1/health`` is public; every other route needs
``Authorization: Bearer <token>`` (401 without, 403 with a wrong one; compared in
constant time), or the dashboard's session (cookie and key, sac.listen.web), which serves
its page under ``/ui/``. Bodies are msgspec-typed JSON, at most 1 MiB; a bad body is a 400 that
lists every problem. The OpenAPI document at ``/v1/openapi.json`` is generated from the
same route table and Structs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

import sac
from sac.lifecycle import Status
from sac.listen.web import Raw, Sessions
from sac.transcript import Event, History
from sac_hookspecs import Reason, TurnResult

MAX_BODY = 1024 * 1024


# -- bodies -------------------------------------------------------------------------------


Timeout = Annotated[float, msgspec.Meta(gt=0, extra={"allowed": "seconds > 0"})]


class SendRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: str
    timeout: Timeout | None = None  # seconds; default: the agent's spec.claude.turn_timeout


AgentName = Annotated[
    str, msgspec.Meta(max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", extra={"allowed": "an agent name"})
]


class StartRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # the agent asking for this one (recorded as lineage); a name, so it fits in argv (D17)
    parent: AgentName | None = None


class Health(msgspec.Struct, kw_only=True):
    ok: bool
    version: str


class Error(msgspec.Struct, kw_only=True, omit_defaults=True):
    error: str
    problems: list[str] = msgspec.field(default_factory=list)


class Done(msgspec.Struct, kw_only=True, omit_defaults=True):
    ok: bool
    message: str = ""
    status: Status | None = None
    already_running: bool = False  # a start found it running (and left it so)


class Interrupted(msgspec.Struct, kw_only=True):
    ok: bool
    interrupted: bool  # a turn was running and was interrupted


class Events(msgspec.Struct, kw_only=True):
    offset: int  # where to read on from: ?after=<offset>
    events: list[Event]
    start: int = 0  # where these events begin (> 0: there are earlier ones, not read)


TAIL_WINDOW = 4 * 1024 * 1024  # bytes: the last n events are looked for in the end of the file


class SpecText(msgspec.Struct, kw_only=True):
    path: str
    text: str


class Labels(msgspec.Struct, kw_only=True):
    name: str
    description: str = ""
    labels: dict[str, str | list[str]] = msgspec.field(default_factory=dict)  # metadata.labels


class HostReport(msgspec.Struct, kw_only=True):
    name: str
    reachable: bool
    error: str | None = None


class HostAgent(msgspec.Struct, kw_only=True):
    """An agent on a `sac host`, as its own sac reported it (only these fields are passed on)."""

    fleet_host: str
    name: str
    state: str
    runtime: str | None = None
    isolation: str | None = None
    uptime_s: float | None = None
    restarts: int = 0
    turns: int = 0
    cost_usd: float | None = None
    last_error: str | None = None


class HostsFleet(msgspec.Struct, kw_only=True):
    hosts: list[HostReport]
    agents: list[HostAgent]


HOSTS_MAX_AGE = 5.0  # seconds one answer of the hosts serves every page that asks


MAX_SPEC = 256 * 1024  # a spec larger than this is not one


class HttpError(Exception):
    def __init__(self, status: int, error: str, problems: list[str] | None = None) -> None:
        self.status, self.body = status, Error(error=error, problems=problems or [])


# -- routes -------------------------------------------------------------------------------


@dataclass
class Route:
    method: str
    path: str  # with {name} placeholders
    handler: Callable[..., Awaitable[Any]]
    summary: str
    response: Any
    body: Any = None
    public: bool = False

    def __post_init__(self) -> None:
        self.regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


class Request:
    def __init__(self, scope: dict, receive: Callable, params: dict[str, str], app: ListenApp) -> None:
        self.scope, self.receive, self.params, self.app = scope, receive, params, app
        self.broker: str | None = None  # the agent whose broker token made this request
        self.headers = headers_of(scope)
        self.query = dict(
            p.split("=", 1) if "=" in p else (p, "") for p in scope.get("query_string", b"").decode().split("&") if p
        )

    def integer(self, key: str, default: int) -> int:
        try:
            return int(self.query.get(key, default))
        except ValueError:
            raise HttpError(400, f"{key} must be an integer") from None

    async def body(self, type_: Any) -> Any:
        if not self.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            raise HttpError(415, "send a JSON body with Content-Type: application/json")
        if int(self.headers.get("content-length") or 0) > MAX_BODY:
            raise HttpError(413, f"the body is larger than {MAX_BODY} bytes")
        chunks, size = [], 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise HttpError(400, "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                raise HttpError(413, f"the body is larger than {MAX_BODY} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        raw = b"".join(chunks) or b"{}"
        try:
            return msgspec.json.decode(raw, type=type_)
        except msgspec.ValidationError as first:
            raise HttpError(400, "invalid request body", _problems(raw, type_, first)) from None
        except (msgspec.DecodeError, UnicodeDecodeError) as e:
            raise HttpError(400, f"malformed JSON: {e}") from None


#: What changes with every answer without anything having happened: an uptime is of the
#: moment it is read. (A JSON string's quotes are escaped, so text inside one never matches.)
_PER_ANSWER = re.compile(rb'"uptime_s":-?[0-9.eE+-]+')


def etag_of(data: bytes) -> bytes:
    """A weak ETag: answers that differ only in their uptimes are the same answer (the page
    adds the time since it fetched one), so a fleet whose agents run on is a 304 while
    nothing else changes."""
    return b'W/"' + hashlib.blake2b(_PER_ANSWER.sub(b"", data), digest_size=12).hexdigest().encode() + b'"'


def headers_of(scope: dict) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _problems(raw: bytes, type_: Any, first: Exception) -> list[str]:
    """Every problem of a well-formed body (JSON is YAML to sac's validator), not only the first."""
    from sac.spec.load import body_problems

    return body_problems(raw, type_) or [str(first)]


def _check_name(name: str) -> None:
    """Names only, never paths (`x.yaml`, `..`): a 400 before any lookup."""
    from sac.errors import UsageError
    from sac.lookup import is_path
    from sac.names import check_name

    try:
        check_name(name)
    except UsageError as e:
        raise HttpError(400, e.message) from None
    if is_path(name):  # `x.yaml` would be read as a file relative to the server's cwd
        raise HttpError(400, f"{name!r} looks like a path; routes take agent names")


def _agent_exists(name: str) -> None:
    from sac.state import AgentDir

    if not AgentDir(name).root.exists() and not _spec_of(name):
        raise HttpError(404, f"no agent {name!r} on this host")


def _spec_of(name: str):
    from sac.config import load_settings
    from sac.errors import SacError
    from sac.lookup import resolve

    try:
        return resolve(name, load_settings())[1]
    except SacError:
        return None


async def health(req: Request) -> Health:
    return Health(ok=True, version=sac.__version__)


async def list_agents(req: Request) -> list[Status]:
    from sac.errors import SacError

    statuses = req.app.statuses  # read again when the runners' files change (status_cache.py)
    try:
        fleet = await statuses.fleet()
    except SacError as e:  # the host's own config is broken: say where, not "internal error" (D17)
        raise HttpError(422, e.render()) from None
    return await statuses.statuses(fleet.names, fleet.specs)


async def get_agent(req: Request) -> Status:
    name = req.params["name"]
    found = req.app.statuses.cached(name)  # no thread, no reading while its files are unchanged
    if found is not None:
        return found
    _agent_exists(name)
    return (await req.app.statuses.statuses([name]))[0]


#: The HTTP status of a failed turn, by its reason (anything else: 502, the agent failed).
STATUS_OF: dict[Reason, int] = {"timeout": 504, "not_ready": 409, "bad_request": 400}


async def send(req: Request) -> TurnResult:
    from sac.errors import SacError
    from sac.runner import control
    from sac.state import AgentDir

    name = req.params["name"]
    _agent_exists(name)
    body: SendRequest = await req.body(SendRequest)
    if not body.text.strip():
        raise HttpError(400, "invalid request body", ["text: the prompt is empty"])
    request = control.Send(text=body.text, timeout=body.timeout or None, source="listen")
    try:
        # as `sac agents send`: the turn's timeout and a margin, else as long as the runner beats
        answer = await control.acall(AgentDir(name).socket, request, body.timeout + 30 if body.timeout else None)
    except control.NotRunning:
        raise HttpError(409, f"agent {name} is not running") from None
    except SacError as e:
        raise HttpError(502, e.message) from None
    result = msgspec.convert(answer, TurnResult)
    if not result.ok:
        raise HttpError(STATUS_OF.get(result.reason, 502), result.error or "the turn failed")
    return result


async def card(req: Request) -> dict:
    from sac.listen.card import agent_card

    name = req.params["name"]
    _agent_exists(name)
    return await asyncio.to_thread(agent_card, name)


async def tail(req: Request) -> list[Event | dict[str, Any]]:  # (a dict: another sac's event)
    from sac.state import AgentDir
    from sac.transcript import read_events

    name = req.params["name"]
    _agent_exists(name)
    n = req.integer("n", 50)
    if n < 0:  # as the CLI's tail -n: a negative count silently meant "all"
        raise HttpError(400, "n must be 0 (all) or more")
    events, _ = await asyncio.to_thread(read_events, AgentDir(name).transcript, 0)
    return events[-n:] if n > 0 else events


_SLOW: Any = None


async def _slow(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a start or a stop (up to minutes) on threads of their own: on the default
    executor (6 threads on 2 cores) seven slow starts held status, tail and card behind them
    (review D11). Starts beyond the pool's size wait for a thread; nothing else does."""
    global _SLOW
    if _SLOW is None:
        import concurrent.futures

        _SLOW = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="sac-start")
    return await asyncio.get_running_loop().run_in_executor(_SLOW, fn, *args)


async def start(req: Request) -> Done:

    name = req.params["name"]
    body: StartRequest = await req.body(StartRequest)
    parent = req.broker or body.parent  # a broker token always speaks for its own agent
    return await _slow_start(name, parent)


def _start_now(name: str, parent: str | None) -> Done:
    from sac import lifecycle
    from sac.agent import load_agent
    from sac.config import load_settings
    from sac.plugins import get_plugins
    from sac.state import Phase

    plugins, settings = get_plugins(), load_settings()
    agent = load_agent(name, plugins, settings)
    started = lifecycle.start(agent, plugins, settings, timeout=180, parent=parent)
    st = started.status
    if started.already_running:
        return Done(ok=True, message="already running", status=st, already_running=True)
    return Done(ok=st.state != Phase.FAILED, message=st.state, status=st)


async def _slow_start(name: str, parent: str | None, stop_first: bool = False) -> Done:
    from sac import lifecycle
    from sac.errors import NotFound, SacError
    from sac.plugins import get_plugins

    def run() -> Done:
        if stop_first:
            lifecycle.stop_and_clean(name, get_plugins)
        return _start_now(name, parent)

    try:
        return await _slow(run)
    except SacError as e:
        raise HttpError(404 if isinstance(e, NotFound) else 422, e.render()) from None


async def restart(req: Request) -> Done:
    """Stop (if it runs) and start again; its Claude session resumes, as `sac agents restart`."""
    name = req.params["name"]
    _agent_exists(name)
    return await _slow_start(name, None, stop_first=True)


async def interrupt(req: Request) -> Interrupted:
    """ESC: interrupt the turn the agent is in (the turn's sender gets an 'interrupted' answer)."""
    from sac.errors import SacError
    from sac.runner import control
    from sac.state import AgentDir

    name = req.params["name"]
    _agent_exists(name)
    try:
        answer = await control.acall(AgentDir(name).socket, control.Interrupt(), 15)
    except control.NotRunning:
        raise HttpError(409, f"agent {name} is not running") from None
    except SacError as e:
        raise HttpError(502, e.message) from None
    return Interrupted(ok=True, interrupted=bool(answer.get("interrupted")))


def _read_events(name: str, after: int, n: int) -> dict[str, Any]:
    import os

    from sac.state import AgentDir
    from sac.transcript import read_events, tail_start

    path = AgentDir(name).transcript
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        size = 0
    if after > size:  # a new transcript (the agent was deleted and made again): from its start
        after = -1
    # the last n: from the end of the file (n=0, all: from its start)
    start = tail_start(path, TAIL_WINDOW) if after < 0 and n > 0 else max(after, 0)
    found, offset = read_events(path, start)
    if not found and after < 0 and start > 0:  # the last event alone is longer than the window
        start = tail_start(path, 16 * TAIL_WINDOW)
        found, offset = read_events(path, start)
    if after < 0 and n > 0:
        found = found[-n:]
    return {"offset": offset, "events": found, "start": start}


async def events(req: Request) -> dict[str, Any]:
    """Transcript events after byte ``after`` (none: the last ``n``), and the offset to ask
    from next: what the page polls to show a turn as it happens."""
    name = req.params["name"]
    _agent_exists(name)
    after, n = req.integer("after", -1), req.integer("n", 200)
    if n < 0:
        raise HttpError(400, "n must be 0 (all) or more")
    return await asyncio.to_thread(_read_events, name, after, n)


async def history(req: Request) -> History:
    from sac.state import AgentDir
    from sac.transcript import HistoryReader

    name = req.params["name"]
    _agent_exists(name)
    reader = req.app.histories.get(name)
    if reader is None:  # one per agent, reading on from where it stopped
        reader = req.app.histories[name] = HistoryReader(AgentDir(name).transcript)
    return await asyncio.to_thread(reader.read)


def _labels_of(specs: dict[str, str]) -> list[Labels]:
    from pathlib import Path

    from sac.errors import SacError
    from sac.listen.card import CardDoc
    from sac.spec.load import load_file

    out = []
    for name, path in sorted(specs.items()):
        try:  # sac's own loader: a broken spec is no labels here, never a 500
            meta = load_file(Path(path), CardDoc).metadata
        except (SacError, OSError):
            out.append(Labels(name=name))
            continue
        out.append(Labels(name=name, description=meta.description or "", labels=dict(meta.labels)))
    return out


async def labels(req: Request) -> list[Labels]:
    """Every agent's description and metadata.labels (capabilities among them): what the
    page filters the fleet by."""
    from sac.errors import SacError

    try:
        fleet = await req.app.statuses.fleet()
    except SacError as e:
        raise HttpError(422, e.render()) from None
    return await asyncio.to_thread(_labels_of, fleet.specs)


async def hosts(req: Request) -> HostsFleet:
    """The agents on every `sac host` (ssh), each host asked by its own sac, as `sac fleet
    status` does; one round of asking at a time, its answer kept for a few seconds."""
    import time

    app = req.app
    async with app.hosts_lock:
        at, found = app.hosts_answer
        if found is None or time.monotonic() - at > HOSTS_MAX_AGE:
            found = await asyncio.to_thread(_ask_hosts)
            app.hosts_answer = (time.monotonic(), found)
    return found


def _ask_hosts() -> HostsFleet:
    from sac.errors import SacError
    from sac.fleet import hosts_status
    from sac.hosts import load_hosts

    try:
        reports, rows = hosts_status(load_hosts())
    except SacError as e:
        raise HttpError(422, e.render()) from None
    return HostsFleet(hosts=msgspec.convert(reports, list[HostReport]), agents=msgspec.convert(rows, list[HostAgent]))


async def spec_text(req: Request) -> SpecText:
    name = req.params["name"]
    _agent_exists(name)
    path = _spec_of(name)
    if path is None:
        raise HttpError(404, f"agent {name} has no spec here (its folder is gone)")

    def read() -> bytes:
        with open(path, "rb") as f:
            return f.read(MAX_SPEC + 1)

    data = await asyncio.to_thread(read)
    if len(data) > MAX_SPEC:
        raise HttpError(413, f"{path} is larger than {MAX_SPEC} bytes")
    return SpecText(path=str(path), text=data.decode("utf-8", "replace"))


async def stop(req: Request) -> Done:
    from sac import lifecycle
    from sac.errors import SacError
    from sac.plugins import get_plugins

    name = req.params["name"]
    _agent_exists(name)
    try:
        what = await _slow(lifecycle.stop_and_clean, name, get_plugins)
    except SacError as e:
        raise HttpError(404 if e.exit_code == 2 else 500, e.message) from None
    return Done(ok=True, message=what)


async def openapi(req: Request) -> dict:
    from sac.listen.openapi import document

    return document(ROUTES, Error)


ROUTES = [
    Route("GET", "/v1/health", health, "Liveness of the control plane (public)", Health, public=True),
    Route("GET", "/v1/openapi.json", openapi, "This API as OpenAPI 3.1", dict),
    Route("GET", "/v1/agents", list_agents, "The fleet and its status", list[Status]),
    Route("GET", "/v1/agents/{name}", get_agent, "One agent's status", Status),
    Route("GET", "/v1/hosts", hosts, "The agents on every `sac host` (asked over ssh)", HostsFleet),
    Route("GET", "/v1/labels", labels, "Every agent's description and labels (capabilities)", list[Labels]),
    Route(
        "POST",
        "/v1/agents/{name}/send",
        send,
        "Send a prompt; the reply when the turn ends",
        TurnResult,
        body=SendRequest,
    ),
    Route("GET", "/v1/agents/{name}/card", card, "The agent's card (A2A)", dict),
    Route("GET", "/v1/agents/{name}/tail", tail, "The last n transcript events (?n=50; 0: all)", list[Event]),
    Route(
        "POST",
        "/v1/agents/{name}/start",
        start,
        "Start the agent (the broker for agents in containers)",
        Done,
        body=StartRequest,
    ),
    Route("POST", "/v1/agents/{name}/stop", stop, "Stop the agent", Done),
    Route("POST", "/v1/agents/{name}/restart", restart, "Stop and start the agent (its session resumes)", Done),
    Route("POST", "/v1/agents/{name}/interrupt", interrupt, "Interrupt the running turn (ESC)", Interrupted),
    Route(
        "GET",
        "/v1/agents/{name}/events",
        events,
        "Transcript events after byte ?after= (none: the last ?n=200) and the next offset",
        Events,
    ),
    Route("GET", "/v1/agents/{name}/history", history, "Turns with their usage, and health events", History),
    Route("GET", "/v1/agents/{name}/spec", spec_text, "The agent's spec.yaml (read-only)", SpecText),
]


class ListenApp:
    """The ASGI application. ``token`` is the bearer token every non-public route needs."""

    def __init__(self, token: str, routes: list[Route] = ROUTES, dashboard: str = "") -> None:
        if len(token) < 16:  # an empty token would make every header "right"
            raise ValueError("the control-plane token is empty or too short")
        self.token = token.encode()
        self.routes = routes
        from sac.listen.status_cache import StatusCache

        self.statuses = StatusCache()
        # the dashboard's signed-in browsers, only ever at its own origin (HOST:PORT; none: no dashboard)
        self.sessions = Sessions(dashboard)
        self.hosts_lock = asyncio.Lock()
        self.histories: dict[str, Any] = {}  # agent -> its HistoryReader
        self.hosts_answer: tuple[float, HostsFleet | None] = (0.0, None)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        from sac.listen import web

        if web.wants_page(scope["path"]):
            reply = web.handle(scope, headers_of(scope), web.query_of(scope), self.sessions)
        else:
            reply = self.json_reply(scope, *await self.dispatch(scope, receive))
        headers = [*reply.headers, (b"content-length", str(len(reply.body)).encode())]
        try:
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            await send({"type": "http.response.body", "body": reply.body})
        except Exception:  # noqa: BLE001 - the client went away; nothing to tell it
            pass

    @staticmethod
    def json_reply(scope: dict, status: int, body: Any) -> Raw:
        data = msgspec.json.encode(body)
        headers = [(b"content-type", b"application/json"), (b"x-content-type-options", b"nosniff")]
        headers.append((b"cache-control", b"no-store"))
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="sac"'))
        if status == 200 and scope["method"] == "GET":
            # the page polls; an unchanged answer is a 304 with no body (ETag, If-None-Match)
            etag = etag_of(data)
            headers.append((b"etag", etag))
            if headers_of(scope).get("if-none-match", "").encode() == etag:
                return Raw(304, b"", headers)
        return Raw(status, data, headers)

    async def dispatch(self, scope: dict, receive: Callable) -> tuple[int, Any]:
        path, method = scope["path"], scope["method"]
        allowed = []
        for route in self.routes:
            m = route.regex.match(path)
            if not m:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            req = Request(scope, receive, m.groupdict(), self)
            try:
                if "name" in req.params:
                    _check_name(req.params["name"])
                if not route.public:
                    req.broker = self.authorize(req, route)
                return 200, await route.handler(req)
            except HttpError as e:
                return e.status, e.body
            except Exception as e:  # noqa: BLE001 - a bug must not take the control plane down
                return 500, Error(error=f"internal error: {type(e).__name__}: {e}")
        if allowed:
            return 405, Error(error=f"{method} is not allowed here (allowed: {', '.join(allowed)})")
        return 404, Error(error=f"no route {path}; see /v1/openapi.json")

    def authorize(self, req: Request, route: Route) -> str | None:
        """None for the host's token; the agent's name for an agent's broker token, which
        opens the start route only (its starts are recorded as that agent's children)."""
        header = req.headers.get("authorization", "")
        if not header:
            from sac.listen.web import api_session

            signed_in = api_session(req.scope, req.headers, req.scope["method"], self.sessions)
            if signed_in:
                return None  # the owner's browser: as the host's token
            if signed_in is False:
                raise HttpError(403, "not signed in here, or not from this page: run `sac listen open` for a new link")
        scheme, _, token = header.partition(" ")
        token = token.strip(" \t")  # HTTP's own whitespace only: str.strip() would eat NBSP/NEL too
        if scheme.lower() != "bearer" or not token:
            raise HttpError(401, "missing bearer token (Authorization: Bearer <token>)")
        if hmac.compare_digest(token.encode("latin-1"), self.token):
            return None
        if route.handler is start:
            from sac.controlplane import broker_of

            agent = broker_of(token)
            if agent:
                return agent
        raise HttpError(403, "wrong bearer token")


def create_app() -> ListenApp:
    """The app granian serves (factory, in granian's worker process): reads the token sac
    listen wrote, and ends the worker when `sac listen` itself is gone."""
    import os

    from sac.controlplane import read_token
    from sac.listen.server import DASHBOARD_ENV

    # taken out of the environment: agents this worker starts must not inherit it
    app = ListenApp(read_token(), dashboard=os.environ.pop(DASHBOARD_ENV, ""))
    _follow_parent()
    return app


def _follow_parent() -> None:
    """A worker outlived a `kill -9` of sac listen, still serving and holding its lock, so
    neither `listen stop` nor `listen status` could see or stop it (review D9). The worker
    watches its parent and ends itself when it is reparented."""
    import os
    import signal
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        os._exit(1)  # it did not stop on SIGTERM

    threading.Thread(target=watch, name="sac-listen-parent", daemon=True).start()
