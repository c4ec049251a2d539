"""Batches prepared on a background thread while the model trains on the previous ones.

Everything about a batch that does not need the current model runs here: gathering its
images from the (memory-mapped) cache, augmentation, and the label side of pair mining
(the candidate positive and negative pairs). What needs the model's current embeddings
(OPMS's pruning, λ-sampling and ordering) cannot run ahead and stays in the step. A bounded
queue keeps at most ``depth`` batches waiting, so memory stays flat.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from simnet.pairs import Pairs


@dataclass
class Batch:
    """One training batch, ready for a step."""

    x: torch.Tensor  # augmented, normalised images
    labels: torch.Tensor  # (B,)
    groups: torch.Tensor | None  # (B,) or None
    candidates: tuple[Pairs, Pairs]  # positives, negatives into the batch
    augment_state: torch.Tensor | None = None  # the augmentation RNG once this batch is made
    attributes: torch.Tensor | None = None  # (B, A) design attributes, -1 unknown


_DONE = object()


class Prefetcher:
    """Iterates ``prepare(item)`` for each of ``items``, computed ``depth`` ahead on a
    daemon thread (``depth`` 0: in the caller's thread, one at a time). Exceptions raised
    while preparing are raised by the iteration, in order."""

    def __init__(self, prepare: Callable[[Any], Batch], items: Iterable[Any], depth: int = 2):
        self.prepare, self.items, self.depth = prepare, items, depth

    def __iter__(self) -> Iterator[Batch]:
        if self.depth <= 0:
            for item in self.items:
                yield self.prepare(item)
            return
        ready: queue.Queue = queue.Queue(maxsize=self.depth)
        stop = threading.Event()

        def produce() -> None:
            try:
                for item in self.items:
                    if stop.is_set():
                        return
                    batch = self.prepare(item)
                    while not stop.is_set():
                        try:
                            ready.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                ready.put(_DONE)
            except BaseException as exc:  # handed to the consumer, raised there
                ready.put(exc)

        worker = threading.Thread(target=produce, name="simnet-batches", daemon=True)
        worker.start()
        try:
            while True:
                batch = ready.get()
                if batch is _DONE:
                    return
                if isinstance(batch, BaseException):
                    raise batch
                yield batch
        finally:
            stop.set()
            while worker.is_alive():  # unblock a producer waiting on a full queue
                try:
                    ready.get_nowait()
                except queue.Empty:
                    worker.join(timeout=0.1)
