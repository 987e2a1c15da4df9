"""What many agents' slow operations are doing at once, on stderr.

On a terminal: each finished agent's line is printed for good (it scrolls like any output),
and below them a live block, rewritten in place, shows the agents in flight with their step
and elapsed time plus a count ("3 of 20 ready, 1 failed, 4 starting, 12 waiting"). The
block stays as small as the number in flight, so fifty agents never outgrow the screen.
Piped: one plain line per new step of an agent, then its final line (logs stay readable).
Thread-safe: every agent's job reports from its own thread.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence

import click

from sac.concurrently import Cancelled


class Board:
    def __init__(
        self,
        names: Sequence[str],
        *,
        doing: str,
        done: str,
        cancel: threading.Event | None = None,
        results_to_stdout: bool = False,
    ) -> None:
        """``results_to_stdout``: the final lines are the command's results (``stop``), not
        messages (``start``, whose results are its --json)."""
        self.names, self.doing, self.done_word = list(names), doing, done
        self.results_err = not results_to_stdout
        self.inline = len(self.names) == 1  # one agent: one line rewritten in place, no table
        self.tty = sys.stderr.isatty()
        self.cancel = cancel if cancel is not None else threading.Event()
        self.lock = threading.Lock()
        self.steps: dict[str, tuple[str, float]] = {}  # in flight: name -> (step, elapsed)
        self.finished: dict[str, bool] = {}  # name -> ok
        self.drawn = 0  # lines of the live block on screen now
        self.last_draw = 0.0

    def progress(self, name: str) -> Callable[[str, float], None]:
        """The callback a job reports its steps to; it raises :class:`Cancelled` once the
        whole operation was interrupted, so the job ends at its next step."""

        def report(step: str, elapsed: float) -> None:
            if self.cancel.is_set():
                raise Cancelled()
            with self.lock:
                before = self.steps.get(name)
                self.steps[name] = (step, elapsed)
                if self.tty:
                    now = time.monotonic()
                    if before is None or before[0] != step or now - self.last_draw >= 0.1:
                        self._redraw([])
                elif (before is None or before[0] != step) and not self.cancel.is_set():
                    click.echo(f"{name}: {step}", err=True)

        return report

    def finish(self, name: str, ok: bool, lines: Sequence[str], *, message: bool = False) -> None:
        """``name`` is done: print its final lines (above the live block on a terminal), on
        stderr if they are a ``message`` (an error) rather than a result."""
        with self.lock:
            self.steps.pop(name, None)
            self.finished[name] = ok
            if self.tty:
                self._redraw(lines, message)
            else:
                for line in lines:
                    click.echo(line, err=self.results_err or message)

    def close(self) -> list[str]:
        """Clear the live block (the final lines stay) and end the jobs still in flight at
        their next step; the names of those (none when all finished)."""
        self.cancel.set()
        with self.lock:
            if self.tty:
                self._erase()
            self.tty = False  # a job that reports after this prints nothing over the shell's prompt
            left, self.steps = list(self.steps), {}
            return left

    def _erase(self) -> None:
        if self.drawn:
            up = "\r\033[K" if self.inline else f"\033[{self.drawn}F\033[J"
            click.echo(up, err=True, nl=False, color=True)  # (color: kept, this is a terminal)
            self.drawn = 0

    def _redraw(self, lines: Sequence[str], message: bool = False) -> None:
        self._erase()
        for line in lines:
            click.echo(line, err=self.results_err or message)
        if self.inline:  # "a1: opening the claude session (2.4 s)", rewritten in place
            for n, (step, elapsed) in self.steps.items():
                line = f"{n}: {step} ({elapsed:.1f} s)"[: _columns() - 1]
                click.echo(f"\r\033[K{line}", err=True, nl=False, color=True)
                self.drawn = 1
            self.last_draw = time.monotonic()
            return
        width = max(map(len, self.names))
        block = [f"  {n.ljust(width)}  {s} ({e:.1f} s)" for n, (s, e) in self.steps.items()]
        ok = sum(self.finished.values())
        failed = len(self.finished) - ok
        waiting = len(self.names) - len(self.finished) - len(self.steps)
        parts = [f"{ok} of {len(self.names)} {self.done_word}"]
        parts += [f"{failed} failed"] if failed else []
        parts += [f"{len(self.steps)} {self.doing}"] if self.steps else []
        parts += [f"{waiting} waiting"] if waiting else []
        block.append(", ".join(parts))
        if block and len(self.finished) < len(self.names):
            cols = _columns() - 1  # a wrapped line would break the erase
            click.echo("\n".join(line[:cols] for line in block), err=True)
            self.drawn = len(block)
        self.last_draw = time.monotonic()


def _columns() -> int:
    """The width of the terminal stderr is on (stdout may be a file: `--json > out.json`);
    a terminal that says 0 (a bare pty) gets the usual fallback."""
    try:
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        columns = 0
    return columns if columns > 0 else shutil.get_terminal_size().columns
