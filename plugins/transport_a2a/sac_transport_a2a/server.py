"""An agent's A2A endpoint, in its runner: the card, JSON-RPC (1.0 and 0.3), ``POST /v1/turn``.

Served by granian embedded in the runner's event loop. One A2A task is one turn; turns
from A2A, ``/v1/turn``, ``sac agents send`` and ``sac listen`` share the session's FIFO
queue, so each caller gets its own reply, in order. Imported only when an agent with
``spec.a2a.port`` starts (a2a-sdk costs ~0.3 s to import).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import socket
import uuid
from typing import Annotated, Any

import msgspec
from a2a.helpers import new_task, new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentExtension,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
    TaskState,
)
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sac_hookspecs import AgentPort, Reason, Serving

ISOLATION_EXTENSION = "urn:sac:a2a:ext:isolation:v1"
MAX_BODY = 1024 * 1024


class TurnRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: str
    timeout: Annotated[float, msgspec.Meta(gt=0, extra={"allowed": "seconds > 0"})] | None = None


def _ids(context: RequestContext) -> tuple[str, str]:
    """The task's and its context's ids. The SDK types them optional, yet its request handler
    sets both before it calls an executor: a request without them is the SDK's bug, said so."""
    if not context.task_id or not context.context_id:
        raise RuntimeError("the A2A SDK called the executor without a task or context id")
    return context.task_id, context.context_id


class TurnExecutor(AgentExecutor):
    """One A2A task = one turn. Events: the Task first (the SDK insists), WORKING, the
    reply's text as artifact chunks while it arrives, then COMPLETED with the whole reply
    (or FAILED with the error). CancelTask interrupts the task's turn if it is running."""

    def __init__(self, port: AgentPort) -> None:
        self.port = port
        self._turn_of: dict[str, int] = {}  # task id -> the agent's turn number, once it runs
        self._cancelled: set[str] = set()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = _ids(context)
        if context.current_task is None:
            history = [context.message] if context.message else None
            await event_queue.enqueue_event(
                new_task(task_id, context_id, TaskState.TASK_STATE_SUBMITTED, history=history)
            )
        updater = TaskUpdater(event_queue, task_id, context_id)
        artifact = str(uuid.uuid4())
        started = False

        async def on_text(chunk: str) -> None:
            nonlocal started
            if chunk and task_id not in self._cancelled:
                await updater.add_artifact([new_text_part(chunk)], artifact_id=artifact, name="reply", append=started)
                started = True

        await updater.start_work()
        try:
            answer = await self.port.turn(
                context.get_user_input(),
                on_text=on_text,
                source="a2a",
                on_start=lambda n: self._turn_of.__setitem__(task_id, n),
            )
        finally:
            self._turn_of.pop(task_id, None)
        if task_id in self._cancelled:
            self._cancelled.discard(task_id)
            return  # cancel() wrote CANCELED; nothing may follow a terminal state
        if answer.ok:
            await updater.complete(updater.new_agent_message([new_text_part(answer.text)]))
        else:
            await updater.failed(updater.new_agent_message([new_text_part(f"error: {answer.error}")]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = _ids(context)
        self._cancelled.add(task_id)
        if task_id in self._turn_of:  # running: interrupt exactly this turn (a queued one just goes)
            await self.port.interrupt(self._turn_of[task_id])
        await TaskUpdater(event_queue, task_id, context_id).cancel(
            new_text_message("canceled", context_id=context_id, task_id=task_id)
        )


class BearerAuth:
    """Pure ASGI middleware (streaming-safe): every path but the card needs the token."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] == AGENT_CARD_WELL_KNOWN_PATH:
            return await self.app(scope, receive, send)
        auth = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = auth.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.token):
            return await self.app(scope, receive, send)
        body = b'{"error": "missing or wrong bearer token"}'
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="sac"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Pure ASGI middleware: no request body over MAX_BODY reaches any route (review D4: a
    300 MiB JSON-RPC body was read and parsed whole, and the runner grew past 1 GB). A body is
    read up to the cap, then handed on; over it (declared or streamed), 413 at once."""

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            return await self._too_big(send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > self.limit:
                return await self._too_big(send)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only a disconnect can come

        return await self.app(scope, replay, send)

    async def _too_big(self, send: Any) -> None:
        body = msgspec.json.encode({"error": f"the body is larger than {self.limit} bytes"})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BoundedTaskStore(InMemoryTaskStore):
    """The SDK's in-memory store keeps every task forever (+47 MB after 200 x 200 KB turns,
    review D4). This one keeps the newest MAX_TASKS; an older task's GetTask says not found."""

    MAX_TASKS = 256

    def __init__(self) -> None:
        super().__init__()
        self._order: collections.OrderedDict[str, Any] = collections.OrderedDict()

    async def save(self, task: Any, context: Any) -> None:
        await super().save(task, context)
        self._order[task.id] = context
        self._order.move_to_end(task.id)
        while len(self._order) > self.MAX_TASKS:
            old, old_context = self._order.popitem(last=False)
            await super().delete(old, old_context)

    async def delete(self, task_id: str, context: Any) -> None:
        self._order.pop(task_id, None)
        await super().delete(task_id, context)


def _require_text(params: Any) -> None:
    from a2a.utils.errors import InvalidParamsError

    message = getattr(params, "message", None)
    text = "".join(getattr(p, "text", "") for p in (message.parts if message is not None else []))
    if not text.strip():  # the model would get an empty prompt (review D27); /v1/turn says 400
        raise InvalidParamsError(message="the message has no text: send a non-empty text part")


class TextHandler(DefaultRequestHandler):
    """The SDK's handler, refusing messages without text before a task is made."""

    async def on_message_send(self, params: Any, context: Any) -> Any:
        _require_text(params)
        return await super().on_message_send(params, context)

    async def on_message_send_stream(self, params: Any, context: Any) -> Any:
        _require_text(params)
        async for event in super().on_message_send_stream(params, context):
            yield event


def build_card(port: AgentPort, url: str, bearer: bool) -> AgentCard:
    info = port.card
    skills = [AgentSkill(id=s, name=s, description=f"{port.name}: {s}", tags=[s]) for s in info.get("skills", [])]
    card = AgentCard(
        name=port.name,
        description=info.get("description", ""),
        version=info.get("version", "1"),
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="0.3"),
        ],
        capabilities=AgentCapabilities(
            streaming=True,
            push_notifications=False,
            extensions=[
                AgentExtension(
                    uri=ISOLATION_EXTENSION,
                    description="how this agent is isolated (sac)",
                    required=False,
                    params=info.get("isolation", {}),  # a mapping becomes the extension's Struct
                )
            ],
        ),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=skills or [AgentSkill(id="chat", name="chat", description="answer a prompt", tags=["chat"])],
    )
    if bearer:
        card.security_schemes["bearer"].CopyFrom(
            SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="Bearer",
                    description="the agent's A2A token: its owner's sac clients find it; "
                    "anyone else gets it from the owner",
                )
            )
        )
        card.security_requirements.append(SecurityRequirement(schemes={"bearer": StringList(list=[])}))
    return card


def _json(status: int, obj: Any) -> Response:
    return Response(msgspec.json.encode(obj), status_code=status, media_type="application/json")


#: The HTTP status of a failed turn, by its reason (anything else: 502, the agent failed).
STATUS_OF: dict[Reason, int] = {"timeout": 504, "not_ready": 503, "bad_request": 400}


def turn_route(port: AgentPort) -> Route:
    async def turn(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _json(415, {"error": "send JSON with Content-Type: application/json"})
        too_big = _json(413, {"error": f"the body is larger than {MAX_BODY} bytes"})
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return too_big
        chunks, size = [], 0
        async for chunk in request.stream():  # chunked bodies too: never more than the cap in memory
            size += len(chunk)
            if size > MAX_BODY:
                return too_big
            chunks.append(chunk)
        body = b"".join(chunks) or b"{}"
        try:
            req = msgspec.json.decode(body, type=TurnRequest)
        except msgspec.ValidationError as e:
            return _json(
                400, {"error": "invalid request body", "problems": port.body_problems(body, TurnRequest) or [str(e)]}
            )
        except (msgspec.DecodeError, UnicodeDecodeError) as e:
            return _json(400, {"error": f"malformed JSON: {e}"})
        if not req.text.strip():
            return _json(400, {"error": "invalid request body", "problems": ["text: the prompt is empty"]})
        answer = await port.turn(req.text, timeout=req.timeout, source="v1/turn")
        if answer.ok:
            return _json(200, answer)
        return _json(STATUS_OF.get(answer.reason, 502), {"error": answer.error or "the turn failed"})

    return Route("/v1/turn", turn, methods=["POST"])


def build_app(port: AgentPort, url: str, token: str | None) -> tuple[Starlette, DefaultRequestHandler]:
    card = build_card(port, url, bearer=token is not None)
    handler = TextHandler(agent_executor=TurnExecutor(port), task_store=BoundedTaskStore(), agent_card=card)
    routes = [
        turn_route(port),
        *create_agent_card_routes(card),
        *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any):
        yield
        await handler.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(BodyLimit)
    if token:
        app.add_middleware(BearerAuth, token=token)  # added last: runs first, before any body is read
    return app, handler


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


async def serve(port: AgentPort, host: str, tcp_port: int | None, token: str | None) -> Serving:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    tcp_port = tcp_port or free_port(host)
    url = f"http://{host if ':' not in host else f'[{host}]'}:{tcp_port}/"
    app, handler = build_app(port, url, token)
    server = Server(app, address=host, port=tcp_port, interface=Interfaces.ASGI, log_level=LogLevels.error)
    task = asyncio.create_task(server.serve())
    for _ in range(200):  # listening within milliseconds; fail clearly if it never does
        if task.done():
            task.result()  # raises why it stopped
            raise RuntimeError(f"the A2A server on {host}:{tcp_port} stopped at once")
        try:
            _, writer = await asyncio.open_connection(host, tcp_port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.01)
    else:
        raise RuntimeError(f"the A2A server did not listen on {host}:{tcp_port}")

    async def stop() -> None:
        await handler.aclose()  # ends running tasks and open streams, so stop() need not wait for them
        server.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)

    return Serving(url=url, stop=stop)


def post_turn(url: str, text: str, timeout: float | None, token: str | None = None) -> str:
    """The client side: SendMessage to an A2A agent at ``url``; its reply text."""

    async def run() -> str:
        import httpx
        from a2a.client import ClientConfig, create_client
        from a2a.helpers import get_message_text
        from a2a.types import Message, Part, Role, SendMessageRequest

        origin = httpx.URL(url)

        async def authorize(request: httpx.Request) -> None:
            # the token goes to the host it was given for, never where a card points elsewhere
            if token and (request.url.scheme, request.url.host, request.url.port) == (
                origin.scheme,
                origin.host,
                origin.port,
            ):
                request.headers["Authorization"] = f"Bearer {token}"

        async with httpx.AsyncClient(
            timeout=httpx.Timeout(10, read=timeout), event_hooks={"request": [authorize]}
        ) as http:
            client = await create_client(url, ClientConfig(streaming=False, httpx_client=http))
            message = Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)])
            reply = ""
            async for event in client.send_message(SendMessageRequest(message=message)):
                if event.WhichOneof("payload") == "task":
                    task = event.task
                    reply = get_message_text(task.status.message) if task.status.HasField("message") else reply
                    if task.status.state == TaskState.TASK_STATE_FAILED:
                        raise RuntimeError(f"the agent failed: {reply}")
                elif event.WhichOneof("payload") == "message":
                    reply = get_message_text(event.message)
            await client.close()
            return reply

    try:
        return asyncio.run(run())
    except RuntimeError:
        raise
    except Exception as e:  # httpx and a2a client errors: one line for the user, not a traceback
        raise RuntimeError(f"A2A call to {url} failed: {type(e).__name__}: {e}") from None
