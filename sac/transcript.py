"""Reading ``session.jsonl``: events for ``tail``, a summary for ``recall``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


def read_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Complete events after byte ``offset``, and the offset to read from next time."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
    events = []
    for line in data[:end].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events, offset + end


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
    for line in data.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        turn = ev.get("turn") if isinstance(ev, dict) else None
        if not isinstance(turn, int):
            continue
        highest = max(highest, turn)
        if ev.get("type") == "prompt":
            open_turn = turn
        elif ev.get("type") in ("result", "error") and turn == open_turn:
            open_turn = None
    return highest, open_turn


def _short(value: Any, width: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def render(ev: dict[str, Any]) -> str:
    """One event as a line for people."""
    kind, turn = ev.get("type"), ev.get("turn")
    tag = f"[{turn}] " if turn else ""
    if kind == "prompt":
        return f"{tag}> {_short(ev.get('text', ''))}"
    if kind == "text":
        return f"{tag}< {_short(ev.get('text', ''))}"
    if kind == "tool_use":
        return f"{tag}$ {ev.get('name')} {_short(ev.get('input'))}"
    if kind == "tool_result":
        return f"{tag}= {'error: ' if ev.get('is_error') else ''}{_short(ev.get('content'))}"
    if kind == "result":
        ok = "ok" if ev.get("ok") else f"error: {ev.get('error')}"
        return f"{tag}# {ok}, ${ev.get('cost_usd', 0):.4f}, {ev.get('duration_ms', 0)} ms"
    if kind == "error":
        return f"{tag}! {ev.get('error')}"
    return f"{tag}{kind}: {_short({k: v for k, v in ev.items() if k not in ('type', 'ts', 'turn')})}"


def summarize(events: list[dict[str, Any]]) -> dict[str, Any]:
    prompts = [e for e in events if e.get("type") == "prompt"]
    results = [e for e in events if e.get("type") == "result"]
    return {
        "session_id": next((e.get("session_id") for e in reversed(results) if e.get("session_id")), None),
        "turns": len(prompts),
        "errors": sum(1 for e in events if e.get("type") == "error") + sum(1 for e in results if not e.get("ok")),
        "cost_usd": sum(e.get("cost_usd") or 0 for e in results),
        "input_tokens": sum(e.get("input_tokens") or 0 for e in results),
        "output_tokens": sum(e.get("output_tokens") or 0 for e in results),
        "tools": dict(Counter(e.get("name") for e in events if e.get("type") == "tool_use")),
        "first_prompt": _short(prompts[0]["text"], 120) if prompts else None,
        "last_prompt": _short(prompts[-1]["text"], 120) if prompts else None,
        "last_reply": _short(results[-1].get("text") or results[-1].get("error") or "", 200) if results else None,
    }
