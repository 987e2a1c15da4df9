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


#: A session.jsonl as the release before the typed events wrote it (json.dumps of dicts, the
#: agent's own errors without a turn), a torn line, and an event of a type a newer sac writes.
OLD_RELEASE = [
    '{"type": "prompt", "turn": 1, "text": "hi", "source": "send", "ts": 1.0}',
    '{"type": "tool_use", "turn": 1, "id": "t1", "name": "Bash", "input": {"command": "ls"}, "ts": 1.1}',
    '{"type": "tool_result", "turn": 1, "id": "t1", "content": "a", "is_error": false, "ts": 1.2}',
    '{"type": "text", "turn": 1, "text": "done", "ts": 1.3}',
    '{"type": "result", "turn": 1, "ok": true, "text": "done", "error": null, "session_id": "s1", '
    '"cost_usd": 0.5, "input_tokens": 3, "output_tokens": 1, "duration_ms": 9, "ts": 1.4}',
    '{"type": "error", "error": "the CLI exited", "ts": 2.0}',
    '{"type": "restart", "attempt": 1, "session_id": "s1", "ts": 2.1}',
    '{"type": "prompt", "turn": 2, "text": "again", "sou',
    '{"type": "checkpoint", "turn": 2, "label": "from a newer sac", "ts": 2.2}',
    '{"type": "prompt", "turn": 3, "text": "and again", "source": "a2a", "ts": 3.0}',
    '{"type": "interrupt", "turn": 3, "ts": 3.1}',
]


def test_a_transcript_an_older_sac_wrote_reads_whole(tmp_path):
    """Readers decode each line strictly (typed events): every line an older release wrote
    still decodes, a torn line is skipped, an unknown type is kept and shown as it is."""
    from sac.transcript import Interrupt, Restart, Result, ToolUse, last_turn, read_events

    path = tmp_path / "session.jsonl"
    path.write_text("\n".join(OLD_RELEASE) + "\n")
    events, offset = read_events(path, 0)
    assert offset == path.stat().st_size
    kinds = [e["type"] if isinstance(e, dict) else type(e).__name__ for e in events]
    assert kinds == ["Prompt", "ToolUse", "ToolResult", "Text", "Result", "Error", "Restart", "checkpoint"] + [
        "Prompt",
        "Interrupt",
    ]
    assert isinstance(events[1], ToolUse) and events[1].input == {"command": "ls"}
    assert isinstance(events[4], Result) and (events[4].cost_usd, events[4].session_id) == (0.5, "s1")
    assert isinstance(events[6], Restart) and isinstance(events[9], Interrupt)
    assert render(events[7]) == '[2] checkpoint: {"label": "from a newer sac"}'
    assert last_turn(path) == (3, 3)  # turn 3 has a prompt and no result: its runner died in it
    summary = summarize(events)
    assert (summary["turns"], summary["errors"], summary["cost_usd"]) == (2, 1, 0.5)


def test_the_history_reader_reads_only_what_was_appended_and_starts_over_on_a_new_file(tmp_path):
    from sac.transcript import HistoryReader, Prompt, Result, append_event

    path = tmp_path / "session.jsonl"
    reader = HistoryReader(path, keep=3)
    assert reader.read().turns == []
    append_event(path, Prompt(turn=1, text="a"))
    append_event(path, Result(turn=1, ok=True, cost_usd=0.25))
    assert [t.cost_usd for t in reader.read().turns] == [0.25]
    size = path.stat().st_size
    append_event(path, Result(turn=2, ok=False, error="boom"))
    h = reader.read()
    assert [t.turn for t in h.turns] == [1, 2] and [e.kind for e in h.health] == ["failed_turn"]
    assert reader._offset > size  # read on, not again from the start
    for turn in range(3, 7):
        append_event(path, Result(turn=turn, ok=True))
    assert [t.turn for t in reader.read().turns] == [4, 5, 6]  # the last `keep`
    path.unlink()  # a new transcript (the agent made again)
    append_event(path, Result(turn=1, ok=True, cost_usd=1.0))
    assert [(t.turn, t.cost_usd) for t in reader.read().turns] == [(1, 1.0)]


def test_tail_start_is_the_first_whole_line_of_the_window(tmp_path):
    from sac.transcript import Prompt, append_event, read_events, tail_start

    path = tmp_path / "session.jsonl"
    assert tail_start(path, 100) == 0
    for i in range(50):
        append_event(path, Prompt(turn=i, text="x" * i))
    data = path.read_bytes()
    assert tail_start(path, len(data)) == 0
    longest = max(len(line) + 1 for line in data.splitlines())
    for window in (longest, longest + 1, 500, len(data) - 1):
        start = tail_start(path, window)
        assert start > 0 and data[start - 1 : start] == b"\n"
        assert len(data) - start <= window
        events, end = read_events(path, start)
        assert end == len(data) and events and events[-1].turn == 49
    assert tail_start(path, 1) == len(data)  # a window shorter than the last line holds none
