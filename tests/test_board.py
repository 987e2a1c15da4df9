"""sac.cli.board.Board: many agents' progress on stderr, piped and on a terminal."""

from __future__ import annotations

import re
import threading

import pytest

from sac.cli.board import Board
from sac.concurrently import Cancelled


def test_piped_one_line_per_new_step_then_the_final_lines(capsys):
    board = Board(["a", "b"], doing="starting", done="ready")
    a, b = board.progress("a"), board.progress("b")
    a("preflight", 0.0)
    a("preflight", 0.5)  # the same step again: no new line
    b("preflight", 0.0)
    a("opening the session", 1.0)
    board.finish("a", True, ["a: ready"])
    b("opening the session", 1.0)
    board.finish("b", False, ["b: failed: no"])
    board.close()
    assert capsys.readouterr().err.splitlines() == [
        "a: preflight",
        "b: preflight",
        "a: opening the session",
        "a: ready",
        "b: opening the session",
        "b: failed: no",
    ]


def test_on_a_terminal_finished_lines_stay_and_the_live_block_is_erased(capsys):
    board = Board(["a", "b", "c"], doing="starting", done="ready")
    board.tty = True
    board.progress("a")("preflight", 0.0)
    board.progress("b")("preflight", 0.0)
    board.finish("a", True, ["a: ready"])
    err = capsys.readouterr().err
    screen = _render(err)
    assert screen == ["a: ready", "  b  preflight (0.0 s)", "1 of 3 ready, 1 starting, 1 waiting"]
    board.finish("b", False, ["b: failed"])
    board.close()
    assert _render(err + capsys.readouterr().err) == ["a: ready", "b: failed"]


def test_an_interrupted_board_ends_each_job_at_its_next_step():
    cancel = threading.Event()
    report = Board(["a"], doing="starting", done="ready", cancel=cancel).progress("a")
    report("preflight", 0.0)
    cancel.set()
    with pytest.raises(Cancelled):
        report("opening the session", 1.0)


def _render(out: str) -> list[str]:
    """What a terminal shows after ``out``: lines, with "move up N lines" and "erase below" applied."""
    lines: list[str] = []
    for part in re.split(r"(\x1b\[\d+F\x1b\[J)", out):
        if m := re.fullmatch(r"\x1b\[(\d+)F\x1b\[J", part):
            del lines[len(lines) - int(m.group(1)) :]
        else:
            lines.extend(part.splitlines())
    return lines


def test_stops_results_go_to_stdout_and_its_messages_to_stderr(capsys):
    board = Board(["a", "b"], doing="stopping", done="stopped", results_to_stdout=True)
    board.finish("a", True, ["a: stopped"])
    board.finish("b", False, ["sac: error: b: no"], message=True)
    board.close()
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("a: stopped\n", "sac: error: b: no\n")


def test_one_agent_on_a_terminal_is_one_line_rewritten_in_place(capsys):
    board = Board(["a"], doing="starting", done="ready")
    board.tty = True
    report = board.progress("a")
    report("preflight", 0.0)
    report("opening the claude session", 1.25)
    board.finish("a", True, ["a: ready"])
    board.close()
    err = capsys.readouterr().err
    assert err == "\r\x1b[Ka: preflight (0.0 s)\r\x1b[K\r\x1b[Ka: opening the claude session (1.2 s)\r\x1b[Ka: ready\n"
