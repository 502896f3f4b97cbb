"""``ordered_map``: the items' results in order, a bounded number in work, errors in their turn."""

from __future__ import annotations

import threading

import pytest

from vl3d_focal.data.parallel import PIECES_AT_ONCE, THREAD_NAME_PREFIX, THREADS_VARIABLE, ordered_map


def test_results_come_in_the_items_order_whatever_finishes_first():
    first_may_finish = threading.Event()

    def work(item: int) -> int:
        if item == 0:  # the first item waits until the second has finished
            assert first_may_finish.wait(timeout=60)
        else:
            first_may_finish.set()
        return item * 10

    assert list(ordered_map(work, range(4), threads=2)) == [0, 10, 20, 30]


def test_at_most_threads_plus_one_items_are_taken_before_the_first_result_is_used():
    taken = []

    def items():
        for item in range(10):
            taken.append(item)
            yield item

    results = ordered_map(lambda item: item, items(), threads=2)
    assert next(results) == 0
    assert len(taken) == 3  # two in work and the one submitted before the first was awaited
    assert list(results) == list(range(1, 10))


def test_an_items_error_is_raised_in_its_turn():
    def work(item: int) -> int:
        if item == 2:
            raise ValueError("bad item 2")
        return item

    results = ordered_map(work, range(5), threads=2)
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(ValueError, match="bad item 2"):
        next(results)


def test_one_thread_runs_in_the_callers_thread(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    assert list(ordered_map(lambda item: threading.current_thread() is threading.main_thread(), range(3))) == [True] * 3


def test_several_threads_run_beside_the_caller(monkeypatch):
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    names = list(ordered_map(lambda item: threading.current_thread().name, range(4)))
    assert all(name.startswith(THREAD_NAME_PREFIX) for name in names)


def test_many_cores_still_run_at_most_two_pieces_at_once(monkeypatch):
    # memory grows with the pieces in work: a 64-core machine must not hold 64 tiles' fields
    monkeypatch.setenv(THREADS_VARIABLE, "16")
    names = set(ordered_map(lambda item: threading.current_thread().name, range(40)))
    assert PIECES_AT_ONCE == 2 and 1 <= len(names) <= PIECES_AT_ONCE
