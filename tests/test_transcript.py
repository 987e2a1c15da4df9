"""sac.transcript: rendering transcript events and summarising a session."""

from __future__ import annotations

from sac.transcript import render, summarize


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
