"""An Anthropic Messages API server on loopback that answers from a :class:`Script`.

It speaks what the claude CLI sends (see ../shared/FACTS.md): ``POST /v1/messages`` with
any query string (``?beta=true``), streaming (SSE) or not, with system-role messages and
``<system-reminder>`` blocks mixed into the conversation, and tool_result continuations.
A tool call's id carries the index of the rule that made it, so a continuation finds its
``then`` text without any server-side state.

Standard library only (http.server on threads): it must start in milliseconds inside a
runner and in tests, and it serves one agent's turns, not a crowd.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .script import Answer, Script, answer, continuation

_ids = itertools.count(1)
_TOOL_ID = re.compile(r"^toolu_sac_r(-?\d+)_")


def _text_of(content: Any) -> str:
    """The user's words in a message's content: its last text block that is not context
    the CLI adds (``<system-reminder>`` blocks, the "# Environment" preamble)."""
    if isinstance(content, str):
        return content.strip()
    for block in reversed(content or ()):
        if isinstance(block, dict) and block.get("type") == "text":
            text = block.get("text", "").strip()
            if text and not text.startswith(("<system-reminder>", "# Environment")):
                return text
    return ""


def respond_to(script: Script, body: dict[str, Any]) -> Answer:
    """Decide the answer to one /v1/messages request body."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict) and m.get("role") in ("user", "assistant")]
    last = messages[-1] if messages else {}
    content = last.get("content")
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
        # A continuation: find the rule from our tool_use id, and the prompt that started it.
        rule = -1
        for block in content:
            m = _TOOL_ID.match(str(block.get("tool_use_id", ""))) if isinstance(block, dict) else None
            if m:
                rule = int(m.group(1))
        prompt = next(
            (
                _text_of(m.get("content"))
                for m in reversed(messages)
                if m.get("role") == "user" and _text_of(m.get("content"))
            ),
            "",
        )
        return continuation(script, rule, prompt)
    return answer(script, _text_of(content))


def _message(body: dict[str, Any], ans: Answer) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if ans.text:
        blocks.append({"type": "text", "text": ans.text})
    for n, tool in enumerate(ans.tools):
        blocks.append(
            {
                "type": "tool_use",
                "id": f"toolu_sac_r{ans.rule}_{next(_ids)}_{n}",
                "name": tool.name,
                "input": tool.input,
            }
        )
    usage = {
        "input_tokens": max(1, len(json.dumps(body.get("messages", []))) // 4),
        "output_tokens": max(1, len(ans.text) // 4),
    }
    return {
        "id": f"msg_sac_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "scripted"),
        "content": blocks,
        "stop_reason": "tool_use" if ans.tools else "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def _sse_events(message: dict[str, Any]):
    """The SSE events of a streamed message, text in a few deltas."""
    head = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": head}
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield (
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
            )
            text = block["text"]
            step = max(1, len(text) // 3)
            for j in range(0, len(text), step):
                yield (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "text_delta", "text": text[j : j + step]},
                    },
                )
        else:
            start = {**block, "input": {}}
            yield "content_block_start", {"type": "content_block_start", "index": i, "content_block": start}
            yield (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": i,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                },
            )
        yield "content_block_stop", {"type": "content_block_stop", "index": i}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _mask(value: str | None) -> str | None:
    """Enough of a credential to tell which one was sent, never the secret itself."""
    if not value:
        return None
    scheme, _, token = value.rpartition(" ")
    return f"{scheme + ' ' if scheme else ''}...{token[-4:]}" if len(token) > 8 else "..."


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: we log JSON ourselves
        pass

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._json(200, {"status": "ok", "model": "scripted"})

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._json(
                400, {"type": "error", "error": {"type": "invalid_request_error", "message": "body is not JSON"}}
            )
        if path.endswith("/count_tokens"):
            return self._json(200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
        if not path.endswith("/v1/messages"):
            return self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})
        try:
            ans = respond_to(self.server.script, body)
        except Exception as e:  # noqa: BLE001 - a request we cannot read is the client's 400
            return self._json(400, {"type": "error", "error": {"type": "invalid_request_error", "message": str(e)}})
        self.server.record(self, body, ans)
        if ans.delay:
            time.sleep(ans.delay)
        if ans.status:
            kind = "overloaded_error" if ans.status == 529 else "api_error"
            return self._json(ans.status, {"type": "error", "error": {"type": kind, "message": "scripted failure"}})
        message = _message(body, ans)
        if not body.get("stream"):
            return self._json(200, message)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for n, (event, data) in enumerate(_sse_events(message)):
            self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
            if n == 0 and ans.stall:
                time.sleep(ans.stall)  # a server that goes silent mid-stream
                return


class ModelServer(ThreadingHTTPServer):
    """``ModelServer(script).start()``; ``.url`` for ANTHROPIC_BASE_URL; ``.stop()``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, script: Script, host: str = "127.0.0.1", port: int = 0, log: Path | None = None) -> None:
        super().__init__((host, port), _Handler)
        self.script = script
        self.log = log
        self.requests = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        # an AF_INET socket's getsockname() host is a str; typeshed also allows bytes, which
        # would print as "http://b'127.0.0.1':port"
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def record(self, handler: _Handler, body: dict[str, Any], ans: Answer) -> None:
        with self._lock:
            self.requests += 1
            if self.log is None:
                return
            entry = {
                "time": time.time(),
                "path": handler.path,
                "model": body.get("model"),
                "stream": bool(body.get("stream")),
                "rule": ans.rule,
                "reply": ans.text,
                "tools": [t.name for t in ans.tools],
                "x-api-key": _mask(handler.headers.get("x-api-key")),
                "authorization": _mask(handler.headers.get("authorization")),
                "prompt": ans.prompt,
            }
            with open(self.log, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def start(self) -> ModelServer:
        self._thread = threading.Thread(target=self.serve_forever, name="sac-scripted-model", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
