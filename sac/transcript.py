"""``session.jsonl``, the structured transcript: its events, appending them (the runner),
and reading them back (``tail``, ``recall``, the control plane's events route).

Each line is one :data:`Event`, tagged by ``type``. Readers decode each line strictly; a
line cut short by a crash is skipped, and an event of a type this sac does not know (a newer
sac wrote it) is kept as the JSON object it is, shown generically, as it always was.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from sac_hookspecs import TurnResult, Usage


class _Event(msgspec.Struct, tag_field="type", kw_only=True):
    ts: float = msgspec.field(default_factory=time.time)


class Prompt(_Event, tag="prompt"):
    turn: int
    text: str
    source: str = "send"


class Text(_Event, tag="text"):
    """A block of the reply, as the CLI produced it."""

    turn: int
    text: str


class ToolUse(_Event, tag="tool_use"):
    turn: int
    name: str
    id: str = ""
    input: Any = None


class ToolResult(_Event, tag="tool_result"):
    turn: int
    id: str = ""
    content: Any = None
    is_error: bool = False


class Result(Usage, tag_field="type", tag="result", kw_only=True):
    """The end of a turn that the CLI answered (``ok`` false: the model said it failed).
    (Usage is its base, so it is not an _Event: a Struct has one base with fields.)"""

    ts: float = msgspec.field(default_factory=time.time)
    turn: int
    ok: bool
    text: str = ""
    error: str | None = None
    session_id: str | None = None
    duration_ms: int = 0

    @classmethod
    def of(cls, result: TurnResult) -> Result:
        return cls(
            turn=result.turn,
            ok=result.ok,
            text=result.text,
            error=result.error,
            session_id=result.session_id,
            duration_ms=result.duration_ms,
            **msgspec.structs.asdict(result.usage()),
        )


class Error(_Event, tag="error", omit_defaults=True):  # no "turn" key for the agent's own errors
    """A turn (``turn``) or the agent (no turn) failed."""

    error: str
    turn: int | None = None


class Interrupt(_Event, tag="interrupt"):
    turn: int


class Restart(_Event, tag="restart"):
    """The supervisor restarted the CLI (attempt ``attempt``), resuming ``session_id``."""

    attempt: int
    session_id: str | None = None


Event = Prompt | Text | ToolUse | ToolResult | Result | Error | Interrupt | Restart
_decoder = msgspec.json.Decoder(Event)


def append_event(path: Path, event: Event) -> None:
    """Append one event (a JSON line; one write call, so lines never interleave)."""
    from sac.nofollow import open_append

    fd = open_append(path)
    try:
        line = msgspec.json.encode(event) + b"\n"
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # end a partial line left by a crash, so it cannot swallow this event (D25)
        os.write(fd, line)
    finally:
        os.close(fd)


def _decode(lines: list[bytes]) -> list[Event | dict[str, Any]]:
    events: list[Event | dict[str, Any]] = []
    for line in lines:
        try:
            events.append(_decoder.decode(line))
        except msgspec.ValidationError:  # (a subclass of DecodeError: first)
            raw = _json_object(line)
            if raw is not None and isinstance(raw.get("type"), str):
                events.append(raw)  # another sac's event: kept as it is
        except msgspec.DecodeError:
            continue  # a torn line
    return events


def _json_object(line: bytes) -> dict[str, Any] | None:
    try:
        raw = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    return raw if isinstance(raw, dict) else None


def read_events(path: Path, offset: int) -> tuple[list[Event | dict[str, Any]], int]:
    """Complete events after byte ``offset``, and the offset to read from next time."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
    return _decode(data[:end].splitlines()), offset + end


def last_turn(path: Path, window: int = 1 << 20) -> tuple[int, int | None]:
    """(the highest turn number in the transcript's last ``window`` bytes, the number of a
    turn that has a prompt but no result or error: its runner died mid-turn)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(size - window, 0))
            data = f.read()
    except FileNotFoundError:
        return 0, None
    highest, open_turn = 0, None
    for ev in _decode(data.splitlines()):
        turn = ev.get("turn") if isinstance(ev, dict) else getattr(ev, "turn", None)
        if not isinstance(turn, int):
            continue
        highest = max(highest, turn)
        if isinstance(ev, Prompt):
            open_turn = turn
        elif isinstance(ev, (Result, Error)) and turn == open_turn:
            open_turn = None
    return highest, open_turn


def _short(value: Any, width: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def render(ev: Event | dict[str, Any]) -> str:
    """One event as a line for people."""
    if isinstance(ev, dict):  # a type this sac does not know
        turn = ev.get("turn")
        fields = {k: v for k, v in ev.items() if k not in ("type", "ts", "turn")}
        return f"{f'[{turn}] ' if turn else ''}{ev['type']}: {_short(fields)}"
    turn = getattr(ev, "turn", None)
    tag = f"[{turn}] " if turn else ""
    if isinstance(ev, Prompt):
        return f"{tag}> {_short(ev.text)}"
    if isinstance(ev, Text):
        return f"{tag}< {_short(ev.text)}"
    if isinstance(ev, ToolUse):
        return f"{tag}$ {ev.name} {_short(ev.input)}"
    if isinstance(ev, ToolResult):
        return f"{tag}= {'error: ' if ev.is_error else ''}{_short(ev.content)}"
    if isinstance(ev, Result):
        ok = "ok" if ev.ok else f"error: {ev.error or 'the turn failed'}"
        return f"{tag}# {ok}, ${ev.cost_usd:.4f}, {ev.duration_ms} ms"
    if isinstance(ev, Error):
        return f"{tag}! {ev.error}"
    fields = {k: v for k, v in msgspec.structs.asdict(ev).items() if k not in ("ts", "turn")}
    return f"{tag}{type(ev).__name__.lower()}: {_short(fields)}"


def summarize(events: list[Event | dict[str, Any]]) -> dict[str, Any]:
    prompts = [e for e in events if isinstance(e, Prompt)]
    results = [e for e in events if isinstance(e, Result)]
    usage = Usage()
    for r in results:
        usage.add(r)
    return {
        "session_id": next((r.session_id for r in reversed(results) if r.session_id), None),
        "turns": len(prompts),
        "errors": sum(1 for e in events if isinstance(e, Error)) + sum(1 for r in results if not r.ok),
        **msgspec.structs.asdict(usage),
        "tools": dict(Counter(e.name for e in events if isinstance(e, ToolUse))),
        "first_prompt": _short(prompts[0].text, 120) if prompts else None,
        "last_prompt": _short(prompts[-1].text, 120) if prompts else None,
        "last_reply": _short(results[-1].text or results[-1].error or "", 200) if results else None,
    }


class TurnPoint(Usage, kw_only=True):
    """One finished turn, for charts over time."""

    ts: float
    turn: int
    ok: bool
    duration_ms: int = 0


class HealthEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Something that went wrong or was done to the agent: a restart of its CLI, an error,
    an interrupted turn, a turn the model failed."""

    ts: float
    kind: str  # restart | error | interrupt | failed_turn
    text: str = ""
    turn: int | None = None


class History(msgspec.Struct, kw_only=True):
    turns: list[TurnPoint]
    health: list[HealthEvent]


def history(events: list[Event | dict[str, Any]]) -> History:
    """Turns (with their usage) and health events, oldest first, from a transcript."""
    turns, health = [], []
    for e in events:
        if isinstance(e, Result):
            turns.append(TurnPoint(ts=e.ts, turn=e.turn, ok=e.ok, duration_ms=e.duration_ms, **_usage(e)))
            if not e.ok:
                health.append(HealthEvent(ts=e.ts, kind="failed_turn", text=_short(e.error or "", 200), turn=e.turn))
        elif isinstance(e, Restart):
            health.append(HealthEvent(ts=e.ts, kind="restart", text=f"the CLI was restarted (attempt {e.attempt})"))
        elif isinstance(e, Error):
            health.append(HealthEvent(ts=e.ts, kind="error", text=_short(e.error, 200), turn=e.turn))
        elif isinstance(e, Interrupt):
            health.append(HealthEvent(ts=e.ts, kind="interrupt", text="the turn was interrupted", turn=e.turn))
    return History(turns=turns, health=health)


def _usage(u: Usage) -> dict[str, Any]:
    return msgspec.structs.asdict(u.usage())


class HistoryReader:
    """:func:`history` of a transcript that grows, reading only what was appended since the
    last call (the dashboard asks every 30 s and after each turn; a long-lived agent's
    transcript runs to many MB). Keeps the last ``keep`` turns and health events."""

    def __init__(self, path: Path, keep: int = 5000) -> None:
        import threading
        from collections import deque

        self.path, self._lock = path, threading.Lock()
        self._ino: int | None = None
        self._offset = 0
        self._turns: deque[TurnPoint] = deque(maxlen=keep)
        self._health: deque[HealthEvent] = deque(maxlen=keep)

    def read(self) -> History:
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                return History(turns=[], health=[])
            if st.st_ino != self._ino or st.st_size < self._offset:  # a new transcript
                self._ino, self._offset = st.st_ino, 0
                self._turns.clear()
                self._health.clear()
            found, self._offset = read_events(self.path, self._offset)
            more = history(found)
            self._turns.extend(more.turns)
            self._health.extend(more.health)
            return History(turns=list(self._turns), health=list(self._health))


def tail_start(path: Path, window: int) -> int:
    """The offset of the first whole line in the last ``window`` bytes of ``path`` (0 when
    the file is smaller): where to read the latest events from without reading it all."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size <= window:
                return 0
            f.seek(size - window - 1)
            f.readline()  # the rest of a line that began before the window (or its newline)
            return f.tell()
    except FileNotFoundError:
        return 0
