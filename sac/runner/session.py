"""One long-lived Claude session: the SDK client, its turns, and the transcript.

Turns are serialised (an asyncio lock is FIFO, so concurrent callers are answered in the
order they arrived, each with its own reply). Every message of a turn becomes an event in
``session.jsonl``. claude_agent_sdk is imported here and only here, when a runner opens
a session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sac import transcript as ev
from sac.transcript import append_event
from sac_hookspecs import TurnResult


class SessionDied(Exception):
    """The CLI process is gone or the connection to it broke."""


class Session:
    """``await open(resume)``, then ``await turn(text, timeout)`` as often as needed."""

    def __init__(self, options: Callable[[str | None, bool], Any], transcript: Path, bills: bool = True) -> None:
        self.make_options = options  # (resume session id, continue?) -> ClaudeAgentOptions
        self._transcript = transcript
        self._bills = bills  # False: the provider charges nothing, whatever the CLI computed
        self._client: Any = None
        self._lock = asyncio.Lock()
        self.session_id: str | None = None
        self.turns = 0
        self.busy_since: float | None = None
        self.on_busy: Callable[[], None] = lambda: None  # told when a turn starts or ends
        self.generation = 0  # bumped by every open: a failure of an older CLI is not news
        self.broken = False  # an interrupted turn never finished: the next reply could be its

    async def open(self, resume: str | None = None, continue_conversation: bool = False) -> None:
        from claude_agent_sdk import ClaudeSDKClient

        self._client = ClaudeSDKClient(self.make_options(resume, continue_conversation))
        self.generation += 1
        self.broken = False
        await self._client.connect()
        if resume:
            self.session_id = resume

    async def reopen(self, resume: str | None = None, continue_conversation: bool = False) -> None:
        """Close and open again, between turns (a turn in flight finishes or fails first)."""
        async with self._lock:
            await self.close()
            await self.open(resume, continue_conversation)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), 3)
            except Exception:  # a dead CLI cannot be disconnected cleanly; it is gone anyway
                pass

    async def ping(self, timeout: float) -> bool:
        """A control round trip to the CLI (no model call): does the session answer? Skipped,
        true, while a turn runs or waits: the turn itself shows whether the CLI lives."""
        if self._client is None:
            return False
        if self._lock.locked():
            return True
        try:
            await asyncio.wait_for(self._client.get_mcp_status(), timeout)
            return True
        except Exception:  # noqa: BLE001 - any failure to answer is a failed probe
            return False

    async def interrupt(self, turn: int | None = None) -> bool:
        """Interrupt the running turn (only if it is turn number ``turn``, when given);
        False if no such turn was running."""
        if self._client is None or self.busy_since is None or (turn is not None and turn != self.turns):
            return False
        await self._client.interrupt()
        append_event(self._transcript, ev.Interrupt(turn=self.turns))
        return True

    @property
    def in_turn(self) -> bool:
        """A turn runs, or waits for the one before it."""
        return self._lock.locked()

    async def turn(
        self,
        text: str,
        timeout: float,
        source: str = "send",
        on_text: Callable[[str], Any] | None = None,
        on_start: Callable[[int], Any] | None = None,
    ) -> TurnResult:
        async with self._lock:
            if self._client is None:
                raise SessionDied("the session is not open")
            if self.broken:
                raise SessionDied("an interrupted turn never finished; the session is being restarted")
            self.turns += 1
            n = self.turns
            if on_start is not None:
                on_start(n)
            self.busy_since = time.time()
            self.on_busy()
            append_event(self._transcript, ev.Prompt(turn=n, text=text, source=source))
            try:
                return await asyncio.wait_for(self._run(n, text, on_text), timeout)
            except asyncio.TimeoutError:
                await self._abort(n)
                message = f"the turn took longer than {timeout:g} s and was interrupted"
                append_event(self._transcript, ev.Error(turn=n, error=message))
                return TurnResult.failure("timeout", message, turn=n, session_id=self.session_id)
            except SessionDied as e:
                append_event(self._transcript, ev.Error(turn=n, error=str(e)))
                raise
            except asyncio.CancelledError:
                # The caller gave up (an A2A CancelTask, a server shutdown): end the turn in the
                # CLI too and read its remains, or the next turn would receive them. The lock is
                # held until that is done, even if cancelled again meanwhile.
                append_event(self._transcript, ev.Error(turn=n, error="the turn was cancelled"))
                cleanup = asyncio.ensure_future(self._abort(n))
                while not cleanup.done():
                    try:
                        await asyncio.shield(cleanup)
                    except asyncio.CancelledError:
                        continue
                raise
            except Exception:
                await self._abort(n)  # a failure of ours mid-turn: the CLI may still be in it
                raise
            finally:
                self.busy_since = None
                self.on_busy()

    async def _abort(self, n: int) -> None:
        """After a timeout: interrupt the CLI and drain the aborted turn's messages."""

        async def drain() -> None:
            async for _ in self._client.receive_response():
                pass

        try:
            await asyncio.wait_for(self._client.interrupt(), 5)
            await asyncio.wait_for(drain(), 10)
        except Exception:  # the aborted turn may still answer later: this session must restart
            self.broken = True

    async def _run(self, n: int, text: str, on_text: Callable[[str], Any] | None = None) -> TurnResult:
        from claude_agent_sdk import (
            AssistantMessage,
            ClaudeSDKError,
            ResultMessage,
            SystemMessage,
            TextBlock,
            ToolResultBlock,
            ToolUseBlock,
            UserMessage,
        )

        texts: list[str] = []
        try:
            await self._client.query(text)
            async for msg in self._client.receive_response():
                if isinstance(msg, AssistantMessage):
                    for block in msg.content:
                        if isinstance(block, TextBlock):
                            texts.append(block.text)
                            append_event(self._transcript, ev.Text(turn=n, text=block.text))
                            if on_text is not None:
                                await on_text(block.text)
                        elif isinstance(block, ToolUseBlock):
                            tool = ev.ToolUse(turn=n, id=block.id, name=block.name, input=block.input)
                            append_event(self._transcript, tool)
                elif isinstance(msg, UserMessage) and isinstance(msg.content, list):
                    for block in msg.content:
                        if isinstance(block, ToolResultBlock):
                            done = ev.ToolResult(
                                turn=n, id=block.tool_use_id, content=block.content, is_error=bool(block.is_error)
                            )
                            append_event(self._transcript, done)
                elif isinstance(msg, SystemMessage) and msg.subtype == "init":
                    self.session_id = msg.data.get("session_id", self.session_id)
                elif isinstance(msg, ResultMessage):
                    return self._result(n, msg, texts)
        except ClaudeSDKError as e:
            raise SessionDied(f"{type(e).__name__}: {e}") from e
        raise SessionDied("the CLI ended the turn without a result")

    def _result(self, n: int, msg: Any, texts: list[str]) -> TurnResult:
        self.session_id = msg.session_id or self.session_id
        usage = msg.usage or {}
        result = TurnResult(
            ok=not msg.is_error,
            text=(msg.result if msg.result is not None else "\n".join(texts)).strip(),
            session_id=self.session_id,
            turn=n,
            cost_usd=(msg.total_cost_usd or 0.0) if self._bills else 0.0,
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            duration_ms=msg.duration_ms,
        )
        if msg.is_error:
            result.reason = "model_error"
            status = f"HTTP {msg.api_error_status} from the model API: " if msg.api_error_status else ""
            detail = "; ".join(msg.errors or []) or result.text or msg.subtype
            result.error = f"{status}{detail}"
            if msg.terminal_reason in ("aborted_streaming", "aborted_tools"):
                result.reason, result.error = "interrupted", "the turn was interrupted"
        append_event(self._transcript, ev.Result.of(result))
        return result
