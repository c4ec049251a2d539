"""One training step and the parts it needs: model, optimizer, schedule, miner, losses.

A step embeds the whole batch in one forward pass (or, across processes, gathers every
process's slice), mines pairs from the embeddings with the miner, takes the contrastive
loss over them and updates the weights.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import cast

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from simnet.config import Config
from simnet.errors import SimNetError
from simnet.losses import ContrastiveLoss, GroupLoss
from simnet.mining import PairMiner, Pairs, create_miner
from simnet.models import SimNetModel, build_model
from simnet.models.simnet import count_parameters
from simnet.runtime import autocast, use_bf16
from simnet.train.distributed import World

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Parts:
    """Everything one training step needs."""

    model: SimNetModel
    miner: PairMiner
    loss: ContrastiveLoss
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    bf16: bool
    channels_last: bool
    ema: AveragedModel | None = None  # averaged weights, when train.ema_decay > 0
    group_loss: GroupLoss | None = None  # with loss.group_weight > 0 and grouped labels
    group_weight: float = 0.0
    attribute_weight: float = 0.0  # per attribute head, when the model has heads
    attribute_weights: dict[str, float] = field(default_factory=dict)  # those not as above
    classify: bool = False  # the classifier baseline: cross-entropy alone, no pairs
    identity_weight: float = 0.0  # the classifier's cross-entropy beside the pairs' loss
    world: World = World()
    shards: int = 1  # batch-norm groups per batch: one per process, or ghost batches
    forward: torch.nn.Module | None = None  # the DDP wrapper, when distributed
    device: torch.device = torch.device("cpu")  # where the steps run

    @property
    def final_model(self) -> torch.nn.Module:
        """The weights to keep: the average when there is one."""
        return self.ema.module if self.ema is not None else self.model


def one_cycle(step: int, total: int, warmup: float) -> float:
    """Learning-rate factor of a one-cycle schedule: a linear rise from 0.1 to 1 over the
    first ``warmup`` share of the steps, then a linear fall to 0.01 at the end."""
    rise = max(1, round(warmup * total))
    if step < rise:
        return 0.1 + 0.9 * step / rise
    return 1.0 - 0.99 * min(1.0, (step - rise) / max(1, total - rise))


def _constant(step: int) -> float:
    return 1.0


def shard_count(config: Config, world: World) -> int:
    """Batch-norm groups per batch: ``train.shards``, which must be 1 or the number of
    processes under torchrun (each process then normalises its own slice). That the batch
    divides into them is checked with the config."""
    shards = config.train.shards
    if world.active:
        if shards not in (1, world.size):
            raise SimNetError(
                f"train.shards is {shards}: under torchrun it must be 1 or the number of "
                f"processes ({world.size})"
            )
        shards = world.size
    if config.train.batch_size % shards:
        raise SimNetError(
            f"train.batch_size ({config.train.batch_size}) must divide into {shards} equal "
            "slices (train.shards, or the number of processes)"
        )
    return shards


def _optimizer(model: torch.nn.Module, config: Config) -> torch.optim.Optimizer:
    """SGD over the trainable parameters; no weight decay on biases and batch-norm ones."""
    t = config.train
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() > 1]
    no_decay = [p for p in trainable if p.dim() <= 1]
    groups = [
        {"params": decay, "weight_decay": t.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=t.lr, momentum=t.momentum, nesterov=t.nesterov)


def _scheduler(
    optimizer: torch.optim.Optimizer, config: Config, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    t = config.train
    factor: Callable[[int], float] = partial(one_cycle, total=total_steps, warmup=t.warmup)
    if t.schedule == "constant":
        factor = _constant
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def build_parts(
    config: Config,
    total_steps: int,
    model: SimNetModel | None = None,
    world: World | None = None,
    device: torch.device | None = None,
) -> Parts:
    """The model (built here unless given) on ``device`` (the CPU by default), optimizer,
    schedule, miner and losses."""
    t, lc = config.train, config.loss
    world = world or World()
    device = device or torch.device("cpu")
    model = (model if model is not None else build_model(config.model)).to(device)
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainable, total = count_parameters(model)
    log.info("%s of %s parameters are trainable", f"{trainable:,}", f"{total:,}")
    optimizer = _optimizer(model, config)
    ema = None
    if t.ema_decay > 0:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(t.ema_decay), use_buffers=True)
    group = GroupLoss(lc.group_radius, lc.group_margin, lc.metric) if lc.group_weight else None
    return Parts(
        model=model,
        miner=create_miner(config.mining, lc.margin, lc.metric, t.seed),
        loss=ContrastiveLoss(lc.margin, lc.metric, lc.balance),
        optimizer=optimizer,
        scheduler=_scheduler(optimizer, config, total_steps),
        bf16=use_bf16(t.bf16, device),
        channels_last=t.channels_last,
        ema=ema,
        group_loss=group,
        group_weight=lc.group_weight,
        attribute_weight=lc.attribute_weight,
        attribute_weights=dict(lc.attribute_weights),
        classify=lc.name == "cross-entropy",
        identity_weight=lc.identity_weight if model.classifier is not None else 0.0,
        world=world,
        shards=shard_count(config, world),
        device=device,
    )


def distribute(parts: Parts) -> None:
    """Wraps the model in DDP once its weights and frozen layers are final (after the
    data-dependent initialisation, or the checkpoint a resume reads); every process then
    starts from the first one's weights."""
    if parts.world.active:
        from torch.nn.parallel import DistributedDataParallel

        on_gpu = parts.device.type == "cuda"
        parts.forward = DistributedDataParallel(
            parts.model, device_ids=[parts.device.index] if on_gpu else None
        )


def train_step(
    parts: Parts,
    x: torch.Tensor,
    labels: torch.Tensor,
    lam: float,
    groups: torch.Tensor | None = None,
    candidates: tuple[Pairs, Pairs] | None = None,
    attributes: torch.Tensor | None = None,
) -> tuple[float, dict]:
    """One optimisation step on a batch; returns the loss and the miner's counts.

    ``candidates`` limits mining to given (positive, negative) pairs: a pairs CSV's.
    ``attributes`` ``(B, A)`` (-1: unknown) train the model's attribute heads.
    Mining runs on the CPU (``candidates`` stay there); the rest on ``parts.device``."""
    parts.model.train()
    device = parts.device
    x, labels = x.to(device, non_blocking=True), labels.to(device, non_blocking=True)
    groups = groups.to(device, non_blocking=True) if groups is not None else None
    embeddings = _embed_batch(parts, x)  # (B, D) float32, unit norm: the whole batch
    if parts.classify:  # the classifier baseline: no pairs
        loss = F.cross_entropy(parts.model.logits(embeddings), labels)
        stats = {"positives": 0, "negatives": 0}
        return _finish_step(parts, loss), stats
    pairs = parts.miner.mine(embeddings.detach(), labels.cpu(), lam, candidates).to(device)
    loss = parts.loss(embeddings, pairs)
    if parts.group_loss is not None and groups is not None:
        loss = loss + parts.group_weight * parts.group_loss(embeddings, labels, groups)
    stats = dict(parts.miner.last_stats)
    weighted = parts.attribute_weight or any(parts.attribute_weights.values())
    if len(parts.model.attribute_heads) and attributes is not None and weighted:
        heads = attribute_loss(parts.model, embeddings, attributes.to(device))
        weight = parts.attribute_weights.get
        loss = loss + sum(weight(name, parts.attribute_weight) * h for name, h in heads.items())
    if parts.identity_weight:
        identity = F.cross_entropy(parts.model.logits(embeddings.float()), labels)
        loss = loss + parts.identity_weight * identity
    if parts.shards > 1:  # pairs whose images were embedded in different slices
        size = len(labels) // parts.shards
        stats["cross_shard"] = int(((pairs.a // size) != (pairs.b // size)).sum())
    return _finish_step(parts, loss), stats


def attribute_loss(
    model: SimNetModel, embeddings: torch.Tensor, attributes: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Cross-entropy of each attribute head over the designs whose value is known."""
    out = {}
    for i, (name, logits) in enumerate(model.attribute_logits(embeddings.float()).items()):
        known = attributes[:, i] >= 0
        if known.any():
            out[name] = F.cross_entropy(logits[known], attributes[known, i])
    return out


def _embed_batch(parts: Parts, x: torch.Tensor) -> torch.Tensor:
    """Embeds a whole batch: here, or this process's slice gathered with the others'; with
    ghost batches (``train.shards`` in one process) slice by slice, so that batch-norm
    sees each slice alone, as it does across processes."""
    world = parts.world
    with autocast(parts.bf16, parts.device):
        if world.active:
            local = x.chunk(world.size)[world.rank]
            return world.gather(cast(torch.nn.Module, parts.forward)(local))
        if parts.shards > 1:
            return torch.cat([parts.model(piece) for piece in x.chunk(parts.shards)])
        return parts.model(x)


def non_finite_weight(parts: Parts) -> str | None:
    """The name of the first weight or buffer (of the model, or of its average) that holds
    a NaN or an infinity; None when all are finite."""
    modules: list[tuple[str, torch.nn.Module]] = [("", parts.model)]
    if parts.ema is not None:
        modules.append(("average ", parts.ema.module))
    for prefix, module in modules:
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                return prefix + name
    return None


def check_weights(parts: Parts, when: str) -> None:
    """Raises :class:`SimNetError` when a weight became non-finite, before it is saved
    (``when``: where training stood, for the message)."""
    bad = non_finite_weight(parts)
    if bad is not None:
        raise SimNetError(
            f"training stopped {when}: the weights became non-finite ({bad}; try a lower "
            "train.lr); the last good checkpoint is kept"
        )


def _finish_step(parts: Parts, loss: torch.Tensor) -> float:
    """Backward, optimizer and schedule step (and the weight average); returns the loss."""
    if not torch.isfinite(loss):
        raise SimNetError(
            "the loss became non-finite (try a lower train.lr); the last good checkpoint is kept"
        )
    parts.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parts.optimizer.step()
    parts.scheduler.step()
    if parts.ema is not None:
        parts.ema.update_parameters(parts.model)
    return loss.item()


__all__ = [
    "Parts",
    "build_parts",
    "check_weights",
    "distribute",
    "non_finite_weight",
    "one_cycle",
    "shard_count",
    "train_step",
]
