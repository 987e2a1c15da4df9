"""Click parameter types sac's commands share."""

from __future__ import annotations

import math
from typing import Any

import click


class Seconds(click.ParamType):
    """A duration: a finite number of seconds > 0 (0, negatives and nan are usage errors,
    not silently ignored or 'failed' after starting something; review D24)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            try:
                seconds = float(value)
            except ValueError:
                self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or seconds <= 0:
            self.fail(f"{value!r}: give a number of seconds > 0", param, ctx)
        return seconds


SECONDS = Seconds()
