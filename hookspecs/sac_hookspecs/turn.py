"""One turn's answer, and what turns cost: the vocabulary every edge of sac shares.

The runner answers a turn with a :class:`TurnResult` (over its control socket, to
transports through :meth:`AgentPort.turn`); sac's HTTP control plane and the A2A server map
its :attr:`TurnResult.reason` to a status code, so no edge ever reads an error's wording to
decide what happened. :class:`Usage` is embedded (as a base) wherever usage is counted: a
turn, the agent's state, a status row, an account's total.
"""

from __future__ import annotations

from typing import Literal

import msgspec

#: Why a turn ended the way it did. ``ok``: answered; ``model_error``: the model (or its API)
#: answered with an error; ``timeout``: it ran past its timeout and was interrupted;
#: ``not_ready``: the agent was not ready for a turn; ``cli_died``: the claude CLI died
#: during it; ``interrupted``: ESC (or an interrupt request) ended it; ``stopped``: the
#: agent was stopped during it; ``bad_request``: the request was not a turn (an empty
#: prompt); ``failed``: anything else.
Reason = Literal[
    "ok", "model_error", "timeout", "not_ready", "cli_died", "interrupted", "stopped", "bad_request", "failed"
]


class Usage(msgspec.Struct, kw_only=True):
    """Money and tokens. A base class, so its fields stay flat in every JSON body."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0

    def usage(self) -> Usage:
        """Only the usage of this object (a turn, a state, a status row)."""
        return Usage(cost_usd=self.cost_usd, input_tokens=self.input_tokens, output_tokens=self.output_tokens)

    def add(self, other: Usage) -> None:
        """Count ``other``'s usage into this one. The cost is rounded to 1e-10 USD, far below
        any price, so sums of binary floats carry no noise (0.1 + 0.2 is 0.3, not
        0.30000000000000004) into state files, JSON and tables."""
        self.cost_usd = round(self.cost_usd + other.cost_usd, 10)
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens


class TurnResult(Usage, kw_only=True, omit_defaults=True):
    """The answer to one prompt, as ``sac agents send``, ``/v1/turn`` and A2A see it."""

    ok: bool
    reason: Reason = "ok"
    text: str = ""
    session_id: str | None = None
    turn: int = 0
    duration_ms: int = 0
    error: str | None = None

    @classmethod
    def failure(cls, reason: Reason, error: str, *, turn: int = 0, session_id: str | None = None) -> TurnResult:
        """A turn that did not answer: why (``reason``) and a sentence for people."""
        return cls(ok=False, reason=reason, error=error, turn=turn, session_id=session_id)
