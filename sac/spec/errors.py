"""Spec problems: every one located at ``file:line:col`` and named by its field path."""

from __future__ import annotations

import msgspec

from sac.errors import UsageError


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """One thing wrong in a YAML file. ``line`` and ``col`` count from 1."""

    file: str
    line: int
    col: int
    path: str  # "spec.claude.flags[0]"; "" for the whole document
    message: str  # what is wrong, then what is allowed in parentheses

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(UsageError):
    """All the problems of one file, reported at once (exit status 2)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col))
        n = len(self.problems)
        super().__init__("\n".join(p.render() for p in self.problems) or "invalid spec")
        self.summary = f"{n} problem{'s' if n != 1 else ''}"
