"""Plain-text tables and JSON for command output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1] for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def echo_json(obj: Any) -> None:
    import msgspec

    click.echo(msgspec.json.format(msgspec.json.encode(obj), indent=2).decode())


def human(value: Any) -> str:
    """A value as people read it, never a Python repr: yes/no, "-" for nothing, lists and
    mappings as comma-separated items."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {human(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(human(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
