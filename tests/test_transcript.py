"""sac.transcript: rendering transcript events and summarising a session."""

from __future__ import annotations

import json
import stat

import msgspec

from sac.state import AgentDir
from sac.transcript import Event, Prompt, append_event, render, summarize


def test_transcript_render_and_summary():
    events = [
        {"type": "prompt", "turn": 1, "text": "hi"},
        {"type": "tool_use", "turn": 1, "name": "Bash", "input": {"command": "ls"}},
        {"type": "tool_result", "turn": 1, "content": "a\nb", "is_error": False},
        {"type": "text", "turn": 1, "text": "done"},
        {
            "type": "result",
            "turn": 1,
            "ok": True,
            "text": "done",
            "cost_usd": 0.5,
            "duration_ms": 12,
            "session_id": "s1",
            "input_tokens": 10,
            "output_tokens": 2,
        },
        {"type": "error", "error": "the CLI exited"},
    ]
    events = msgspec.convert(events, list[Event])  # as read_events decodes each line
    assert [render(e) for e in events] == [
        "[1] > hi",
        '[1] $ Bash {"command": "ls"}',
        "[1] = a b",
        "[1] < done",
        "[1] # ok, $0.5000, 12 ms",
        "! the CLI exited",
    ]
    s = summarize(events)
    assert (s["turns"], s["errors"], s["cost_usd"], s["tools"], s["session_id"]) == (1, 1, 0.5, {"Bash": 1}, "s1")


def test_transcript_events_are_json_lines_and_a_torn_line_swallows_none(home):
    d = AgentDir("a")
    d.make()
    append_event(d.transcript, Prompt(turn=1, text="one"))
    with open(d.transcript, "ab") as f:
        f.write(b'{"type": "text", "tex')  # a crash in the middle of a write
    append_event(d.transcript, Prompt(turn=2, text="two"))
    lines = d.transcript.read_bytes().split(b"\n")
    assert lines[-1] == b""
    events = []
    for line in lines[:-1]:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    assert [e["text"] for e in events] == ["one", "two"]
    assert all(isinstance(e["ts"], float) for e in events)
    assert stat.S_IMODE(d.transcript.stat().st_mode) == 0o600
