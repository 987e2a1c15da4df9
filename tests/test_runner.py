"""sac.runner.runner: the restart backoff (a pure function, over its whole input space)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sac.runner.runner import backoff_delay
from sac_hookspecs.spec import Backoff


@given(st.floats(0.01, 10), st.floats(1, 4), st.floats(0.01, 600), st.integers(0, 50))
def test_backoff_grows_and_is_capped(initial, factor, cap, n):
    b = Backoff(initial=initial, factor=factor, max=cap)
    assert backoff_delay(b, n) <= cap
    assert backoff_delay(b, n + 1) >= backoff_delay(b, n)
    assert backoff_delay(b, 0) == min(initial, cap)
    assert backoff_delay(initial, 0) == min(initial, 300.0)  # a number means `initial`


@given(st.floats(0.01, 10), st.floats(1, 1.0e308), st.floats(0.01, 600), st.integers(0, 10**9))
def test_backoff_never_overflows(initial, factor, cap, n):
    """D19: any valid factor and any number of attempts (policy: always runs forever)."""
    b = Backoff(initial=initial, factor=factor, max=cap)
    assert min(initial, cap) <= backoff_delay(b, n) <= cap
    assert backoff_delay(b, n + 1) >= backoff_delay(b, n)
