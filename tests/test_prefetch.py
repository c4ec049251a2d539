"""Batches prepared on a background thread: same batches, same order, errors surface, and
a stopped consumer stops the producer."""

from __future__ import annotations

import threading
import time

import pytest

from simnet.train.prefetch import Prefetcher


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_items_come_in_order(depth: int) -> None:
    assert list(Prefetcher(lambda i: i * i, range(20), depth)) == [i * i for i in range(20)]


def test_preparation_runs_ahead_on_another_thread() -> None:
    threads, prepared = set(), []

    def prepare(i: int) -> int:
        threads.add(threading.get_ident())
        prepared.append(i)
        return i

    it = iter(Prefetcher(prepare, range(10), depth=3))
    assert next(it) == 0
    time.sleep(0.2)
    assert len(prepared) >= 3  # the next batches are ready before they are asked for
    assert threading.get_ident() not in threads
    assert list(it) == list(range(1, 10))


def test_an_error_while_preparing_is_raised_in_the_consumer() -> None:
    def prepare(i: int) -> int:
        if i == 4:
            raise ValueError("bad batch 4")
        return i

    seen = []
    with pytest.raises(ValueError, match="bad batch 4"):
        for item in Prefetcher(prepare, range(10), depth=2):
            seen.append(item)
    assert seen == [0, 1, 2, 3]


def test_a_consumer_that_stops_early_stops_the_producer() -> None:
    before = threading.active_count()
    for item in Prefetcher(lambda i: i, range(10_000), depth=2):
        if item == 3:
            break
    time.sleep(0.3)
    assert threading.active_count() == before
