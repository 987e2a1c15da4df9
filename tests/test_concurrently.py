"""sac.concurrently.each: bounded, first done first reported, a failure is its job's alone."""

from __future__ import annotations

import threading

import pytest

from sac.concurrently import Cancelled, default_jobs, each


def test_at_most_jobs_run_at_once_and_every_item_is_done_once():
    lock, now, most, seen = threading.Lock(), [0], [0], []
    gate = threading.Barrier(3)  # the first three meet: three really were in flight together

    def job(i: int) -> int:
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        if i < 3:
            gate.wait(timeout=10)
        with lock:
            now[0] -= 1
            seen.append(i)
        return i * i

    results = {o.item: o.result for o in each(range(10), job, jobs=3)}
    assert results == {i: i * i for i in range(10)}
    assert most[0] == 3 and sorted(seen) == list(range(10))


def test_a_failure_is_its_jobs_outcome_and_the_others_still_run():
    def job(i: int) -> int:
        if i == 0:
            raise ValueError("zero")
        return i

    outcomes = {o.item: o for o in each(range(4), job, jobs=2)}
    assert isinstance(outcomes[0].error, ValueError) and outcomes[0].result is None
    assert [outcomes[i].result for i in (1, 2, 3)] == [1, 2, 3]


def test_the_first_done_is_reported_first_whatever_the_order_asked():
    b_done = threading.Event()

    def job(name: str) -> str:
        if name == "slow":
            assert b_done.wait(timeout=10)  # ends only once "fast" was reported
        return name

    order = []
    for o in each(["slow", "fast"], job, jobs=2):
        order.append(o.item)
        if o.item == "fast":
            b_done.set()
    assert order == ["fast", "slow"]


def test_leaving_early_cancels_the_jobs_not_begun():
    cancel, begun, release = threading.Event(), [], threading.Event()

    def job(i: int) -> int:
        begun.append(i)
        if i > 0:
            release.wait(timeout=10)
        return i

    for o in each(range(6), job, jobs=2, cancel=cancel):
        assert o.item == 0
        break  # Ctrl-C, a closed pipe
    assert cancel.is_set()
    release.set()
    for t in threading.enumerate():  # the pool's threads, once they have run all they will run
        if t.name.startswith("sac"):
            t.join(timeout=10)
    assert set(begun) <= {0, 1, 2}  # 0, then at most the two in flight when it ended; none after


def test_default_jobs_is_bounded():
    assert 4 <= default_jobs() <= 16


def test_cancelled_is_an_exception_a_job_can_raise():
    def job(i: int) -> int:
        raise Cancelled()

    (o,) = list(each([1], job))
    assert isinstance(o.error, Cancelled)


@pytest.mark.parametrize("items", [[], ()])
def test_nothing_to_do_yields_nothing(items):
    assert list(each(items, lambda i: i)) == []
