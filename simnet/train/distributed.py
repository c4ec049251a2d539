"""Data-parallel training across processes, with PyTorch's own stack (``torchrun``, DDP).

Every process draws the same global class-balanced batch (the sampler is seeded alike on
all of them), augments it alike, and embeds its own slice; the slices' embeddings are
gathered (with their gradients) so that mining sees the whole batch and negatives come from
every process. Each process then computes the same loss; the gather's backward pass sums
the gradients that reach each slice, and DDP averages the parameters' gradients, which
makes a step equal to one process's step on the whole batch with one batch-norm group per
slice (``train.shards``). Only the first process writes files.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one, when not distributed)."""

    rank: int = 0
    size: int = 1
    local_size: int = 1

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def gather(self, local: torch.Tensor) -> torch.Tensor:
        """Every process's ``(b, ...)`` rows, in rank order, as one ``(size * b, ...)``
        tensor through which gradients flow back to each process's own rows."""
        if not self.active:
            return local
        return cast(torch.Tensor, _Gather.apply(local))


class _Gather(torch.autograd.Function):
    """All processes' rows in rank order; backward: the sum, over processes, of the
    gradient each computed for this process's rows."""

    @staticmethod
    def forward(ctx: Any, local: torch.Tensor) -> torch.Tensor:
        local = local.contiguous()
        parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, local)
        ctx.rows = slice(dist.get_rank() * len(local), (dist.get_rank() + 1) * len(local))
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)  # sum over processes
        return grad[ctx.rows]


def init_world(device: torch.device | None = None) -> World:
    """Joins the process group that ``torchrun`` describes in the environment
    (``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR``...): over NCCL when training on GPUs, gloo
    on CPUs. A lone process stays alone."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        if device is not None and device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    world = World(
        dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    )
    if not world.main:
        logging.getLogger("simnet").setLevel(logging.WARNING)  # one process speaks
    return world


def leave_world(world: World) -> None:
    if world.active and dist.is_initialized():
        dist.destroy_process_group()
