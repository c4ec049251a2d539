"""The training loop: class-balanced batches, augmentation, one forward, OPMS, contrastive
loss, SGD with a one-cycle schedule; a checkpoint and a metrics row after every epoch."""

from __future__ import annotations

import contextlib
import csv
import itertools
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from simnet.config import Config
from simnet.data import (
    BatchAugment,
    ClassBalancedBatchSampler,
    ImageSet,
    to_input,
)
from simnet.data.defaults import resolve_data
from simnet.data.loading import load_data
from simnet.data.pairs import PairBatchSampler, is_pairs_csv, load_pairs
from simnet.errors import SimNetError
from simnet.losses import ContrastiveLoss, GroupLoss
from simnet.mining import LambdaSchedule, PairMiner, Pairs, candidate_pairs, create_miner
from simnet.mining.offline import OfflineSampler
from simnet.models import SimNetModel, build_model
from simnet.models.simnet import count_parameters
from simnet.models.store import save_model
from simnet.runtime import autocast, seed_everything, set_threads, training_device, use_bf16
from simnet.storage import atomic_write_text, exclusive
from simnet.train.checkpoint import STATE_FILE, load_state, save_state
from simnet.train.distributed import World, init_world, leave_world
from simnet.train.prefetch import Batch, Prefetcher

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.csv"
COLUMNS = [
    "epoch",
    "lambda",
    "lr",
    "train_loss",
    "positives",
    "negatives",
    "val_loss",
    "seconds",
    "images_per_second",
]


@dataclass
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
    world: World = World()
    shards: int = 1  # batch-norm groups per batch: one per process, or ghost batches
    forward: torch.nn.Module | None = None  # the DDP wrapper, when distributed
    device: torch.device = torch.device("cpu")  # where the steps run

    @property
    def final_model(self) -> torch.nn.Module:
        """The weights to keep: the average when there is one."""
        return self.ema.module if self.ema is not None else self.model


def _split_validation(
    train: ImageSet, fraction: float, seed: int
) -> tuple[ImageSet, ImageSet | None]:
    if fraction <= 0:
        return train, None
    order = np.random.default_rng(seed).permutation(len(train))
    cut = max(2, int(round(fraction * len(train))))
    return train.subset(np.sort(order[cut:])), train.subset(np.sort(order[:cut]))


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
    processes under torchrun (each process then normalises its own slice)."""
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


def build_parts(
    config: Config,
    total_steps: int,
    model: SimNetModel | None = None,
    world: World | None = None,
    device: torch.device | None = None,
) -> Parts:
    """The model (built here unless given) on ``device`` (the CPU by default), optimizer,
    schedule, miner and losses."""
    t = config.train
    world = world or World()
    device = device or torch.device("cpu")
    model = model if model is not None else build_model(config.model)
    model = model.to(device)
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainable, total = count_parameters(model)
    log.info("%s of %s parameters are trainable", f"{trainable:,}", f"{total:,}")
    optimizer = _optimizer(model, config)
    factor: Callable[[int], float] = partial(one_cycle, total=total_steps, warmup=t.warmup)
    if t.schedule == "constant":
        factor = _constant
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    miner = create_miner(config.mining, config.loss.margin, config.loss.metric, t.seed)
    loss = ContrastiveLoss(config.loss.margin, config.loss.metric, config.loss.balance)
    ema = None
    if t.ema_decay > 0:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(t.ema_decay), use_buffers=True)
    bf16 = use_bf16(t.bf16, device)
    lc = config.loss
    group = GroupLoss(lc.group_radius, lc.group_margin, lc.metric) if lc.group_weight else None
    return Parts(
        model,
        miner,
        loss,
        optimizer,
        scheduler,
        bf16,
        t.channels_last,
        ema,
        group,
        lc.group_weight,
        world,
        shard_count(config, world),
        device=device,
    )


def _distribute(parts: Parts) -> None:
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
) -> tuple[float, dict]:
    """One optimisation step on a batch; returns the loss and the miner's counts.

    ``candidates`` limits mining to given (positive, negative) pairs: a pairs CSV's.
    Mining runs on the CPU (``candidates`` stay there); the rest on ``parts.device``."""
    parts.model.train()
    device = parts.device
    x, labels = x.to(device, non_blocking=True), labels.to(device, non_blocking=True)
    groups = groups.to(device, non_blocking=True) if groups is not None else None
    embeddings = _embed_batch(parts, x)  # (B, D) float32, unit norm: the whole batch
    if parts.model.classifier is not None:  # the classifier baseline: no pairs
        loss = F.cross_entropy(parts.model.logits(embeddings), labels)
        stats = {"positives": 0, "negatives": 0}
        return _finish_step(parts, loss), stats
    pairs = parts.miner.mine(embeddings.detach(), labels.cpu(), lam, candidates).to(device)
    loss = parts.loss(embeddings, pairs)
    if parts.group_loss is not None and groups is not None:
        loss = loss + parts.group_weight * parts.group_loss(embeddings, labels, groups)
    stats = dict(parts.miner.last_stats)
    if parts.shards > 1:  # pairs whose images were embedded in different slices
        size = len(labels) // parts.shards
        stats["cross_shard"] = int(((pairs.a // size) != (pairs.b // size)).sum())
    return _finish_step(parts, loss), stats


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


@torch.no_grad()
def validation_loss(parts: Parts, val: ImageSet, config: Config) -> float:
    """Contrastive loss over every pair of a fixed set of validation images (no mining)."""
    model = cast(SimNetModel, parts.final_model.eval())
    rng = np.random.default_rng(0)
    index = np.sort(rng.permutation(len(val))[:1000])
    images = torch.from_numpy(np.ascontiguousarray(val.images[index]))
    labels = torch.from_numpy(val.labels[index])
    with autocast(parts.bf16, parts.device):
        embeddings = model(to_input(images).to(parts.device)).float()
    if model.classifier is not None:
        return float(F.cross_entropy(model.logits(embeddings), labels.to(parts.device)))
    pos, neg = candidate_pairs(labels)
    return float(parts.loss(embeddings, Pairs.cat([pos, neg]).to(parts.device)))


def _write_row(path: Path, row: dict) -> None:
    rows = []
    if path.is_file():
        with path.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if int(r["epoch"]) < row["epoch"]]
    rows.append(row)
    lines = [",".join(COLUMNS)] + [",".join(str(r.get(c, "")) for c in COLUMNS) for r in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


Sampler = ClassBalancedBatchSampler | PairBatchSampler | OfflineSampler


def _training_data(
    config: Config, data_path: Path, train_images: ImageSet | None
) -> tuple[ImageSet, ImageSet | None, list[str], Sampler]:
    """(training images, validation images or None, class names, batch sampler)."""
    t = config.train
    sampler: Sampler
    if train_images is not None:
        train_set, val_set = _split_validation(train_images, config.data.val_fraction, t.seed)
        sampler = ClassBalancedBatchSampler(train_set.labels, t.batch_size, t.per_class, t.seed)
        return train_set, val_set, train_images.classes, sampler
    if is_pairs_csv(data_path):
        if config.data.val_fraction > 0:
            raise SimNetError("data.val_fraction is not available with a pairs CSV: set it to 0")
        pair_data = load_pairs(
            data_path, config.data.image_size, config.data.test_fraction, config.data.cache_dir
        )
        log.info("training on %d pairs of %d images", len(pair_data.train), len(pair_data.images))
        sampler = PairBatchSampler(pair_data.train, t.batch_size, t.seed)
        return pair_data.images, None, pair_data.images.classes, sampler
    dataset = load_data(data_path, config.data, config.model.views)
    train_set, val_set = _split_validation(dataset.train, config.data.val_fraction, t.seed)
    sampler = ClassBalancedBatchSampler(train_set.labels, t.batch_size, t.per_class, t.seed)
    return train_set, val_set, dataset.classes, sampler


def train(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    train_images: ImageSet | None = None,
    stop_after: int | None = None,
) -> Path:
    """Trains a SimNet model and writes a run folder.

    The folder holds ``config.yaml`` (resolved), ``metrics.csv`` (one row per epoch),
    ``checkpoint.pt`` (the full training state, after every epoch) and, at the end,
    ``model.safetensors`` with ``model.json``.

    Args:
        config: the resolved configuration.
        out_dir: the run folder.
        resume: continue from the run folder's checkpoint.
        progress: show a progress bar.
        train_images: train on these images instead of the training split of
            ``config.data.source`` (cross-validation folds); nothing else is read.
        stop_after: stop after this many epochs of the planned schedule, with the
            checkpoint written (``resume`` continues), and no model file.

    Under ``torchrun`` every process runs this function; they share each batch (see
    :mod:`simnet.train.distributed`) and only the first writes the run folder.
    Returns:
        The run folder.
    """
    run_dir = Path(out_dir)
    device = training_device(config.train.device)
    world = init_world(device)
    try:
        if world.main:  # the writer: one at a time per run folder
            run_dir.mkdir(parents=True, exist_ok=True)
        with exclusive(run_dir, wait=False) if world.main else contextlib.nullcontext():
            run = _train(
                config,
                run_dir,
                resume,
                progress and world.main,
                train_images,
                stop_after,
                world,
                device,
            )
        world.barrier()  # every process done before the first's files are read
        return run
    finally:
        leave_world(world)


def _train(
    config: Config,
    run_dir: Path,
    resume: bool,
    progress: bool,
    train_images: ImageSet | None,
    stop_after: int | None,
    world: World,
    device: torch.device,
) -> Path:
    t = config.train
    # Processes on one machine share its cores.
    set_threads(t.threads or max(1, (os.cpu_count() or 1) // world.local_size))
    seed_everything(t.seed)
    if config.model.views and not config.data.source:
        raise SimNetError(
            "a multi-view model needs a design library: pass --data DIR "
            "(make one with simnet generate-packages --out DIR)"
        )
    classify = config.loss.name == "cross-entropy"
    # First: missing weights fail before any decoding (a classifier needs the class count).
    model = None if classify else build_model(config.model)
    data_path = resolve_data(config.data.source, config.data.cache_dir).resolve()
    config.data.source = str(data_path)  # evaluate and index find it from any folder
    if not world.main:
        world.barrier()  # the first process decodes the data into the cache; then the rest
    train_set, val_set, classes, sampler = _training_data(config, data_path, train_images)
    if world.main:
        world.barrier()
    if classify:
        if isinstance(sampler, PairBatchSampler) or config.model.views:
            raise SimNetError("loss.name=cross-entropy needs single images with class labels")
        config.model.classes = len(classes)
        model = build_model(config.model)
    parts = build_parts(config, t.epochs * len(sampler), model, world, device)
    t.shards = parts.shards  # recorded, so a resume in one process normalises alike
    prefetch = t.prefetch
    if config.mining.strategy == "offline":
        if world.active:
            raise SimNetError("mining.strategy=offline runs in one process, not under torchrun")
        if config.model.views or isinstance(sampler, PairBatchSampler):
            raise SimNetError("mining.strategy=offline needs single images with class labels")
        sampler = OfflineSampler(
            partial(_embed_subset, images=train_set.images, bf16=parts.bf16),
            parts.model,
            train_set.labels,
            run_dir,
            t.batch_size,
            len(sampler),
            every=config.mining.offline_every,
            pool=config.mining.offline_pool,
            negatives=max(1, round(2 * config.mining.negatives_per_positive)),
            seed=t.seed,
        )
        prefetch = 0  # the snapshot must be taken between steps, not during one
    schedule = LambdaSchedule(
        t.epochs, config.mining.lambda_start, config.mining.lambda_step, config.mining.lambda_max
    )
    if parts.group_loss is not None and train_set.groups is None:
        log.warning(
            "loss.group_weight is set but the data has no groups (designs with "
            "data.labels=design have their families): the group loss is off"
        )
    if config.model.whiten:
        _init_from_data(parts, train_set, t.seed)
    start_epoch, best = 0, {"val_loss": math.inf, "epoch": 0, "stopped": False}
    within: dict[str, Any] | None = None  # where a checkpoint taken within an epoch stood
    if resume:
        state = load_state(run_dir)
        start_epoch = _restore(parts, state, t.epochs)
        best.update(state.get("best") or {})
        within = state.get("within")
    elif (run_dir / STATE_FILE).exists():
        raise SimNetError(
            f"{run_dir} already holds a run: pass --resume to continue it, or choose another --out"
        )
    _distribute(parts)
    if world.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "config.yaml")
    log.info(
        "training on %d images of %d classes from %s (%d steps/epoch, bf16=%s%s)",
        len(train_set),
        train_set.num_classes_present,
        data_path,
        len(sampler),
        parts.bf16,
        f", {world.size} processes" if world.active else "",
    )
    meta = {
        "config": config.to_dict(),
        "classes": classes,
        "data": str(data_path),
        "format": 1,
    }
    early_stopping = t.patience > 0 and val_set is not None
    # Within an epoch a checkpoint needs batches that can be drawn again from where it
    # stood: every sampler's but the offline one's, which re-mines from the model as it goes.
    splittable = not isinstance(sampler, OfflineSampler)
    for epoch in range(start_epoch, t.epochs):
        if best["stopped"]:
            break
        lam = schedule(epoch)
        sampler.set_epoch(epoch)
        augment = BatchAugment(config.augment, seed=t.seed * 1_000_003 + epoch)
        started, losses, pos, neg, cross = time.perf_counter(), [], 0, 0, 0
        done, spent = 0, 0.0  # steps and seconds of this epoch before a resume
        if within is not None:  # resumed within this epoch: skip the steps already taken
            done, spent, losses = within["step"], within["seconds"], list(within["losses"])
            pos, neg, cross = within["positives"], within["negatives"], within["cross"]
            augment.gen.set_state(within["augment_rng"])
            within = None
        bar = tqdm(
            total=len(sampler),
            initial=done,
            desc=f"epoch {epoch + 1}/{t.epochs}",
            unit="batch",
            disable=not progress,
            leave=False,
        )
        prepare = partial(_prepare, train_set=train_set, augment=augment)
        items = itertools.islice(iter(sampler), done, None)
        saved = time.monotonic()
        for step, batch in enumerate(Prefetcher(prepare, items, prefetch), start=done + 1):
            loss, stats = train_step(
                parts, batch.x, batch.labels, lam, batch.groups, batch.candidates
            )
            losses.append(loss)
            pos, neg = pos + stats.get("positives", 0), neg + stats.get("negatives", 0)
            cross += stats.get("cross_shard", 0)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", lam=f"{lam:.2f}")
            due = t.checkpoint_minutes and time.monotonic() - saved >= 60 * t.checkpoint_minutes
            if due and world.main and step < len(sampler) and splittable:
                where = {
                    "step": step,
                    "seconds": spent + time.perf_counter() - started,
                    "losses": losses,
                    "positives": pos,
                    "negatives": neg,
                    "cross": cross,
                    "augment_rng": batch.augment_state,
                }
                snapshot = _snapshot(parts, epoch, t.epochs)
                save_state(run_dir, {**snapshot, "best": dict(best), "within": where})
                saved = time.monotonic()
        bar.close()
        seconds = spent + time.perf_counter() - started
        val_loss = validation_loss(parts, val_set, config) if val_set else math.nan
        row = {
            "epoch": epoch + 1,
            "lambda": round(lam, 4),
            "lr": f"{parts.scheduler.get_last_lr()[0]:.5g}",
            "train_loss": f"{np.mean(losses):.6f}",
            "positives": pos,
            "negatives": neg,
            "val_loss": f"{val_loss:.6f}" if val_set else "",
            "seconds": f"{seconds:.1f}",
            "images_per_second": f"{len(sampler) * sampler.batch_size / seconds:.0f}",
        }
        if world.main:
            _write_row(run_dir / METRICS_FILE, row)
        if world.active:
            log.info(
                "epoch %d: %d of %d mined pairs joined images embedded by different processes",
                epoch + 1,
                cross,
                pos + neg,
            )
        if early_stopping:
            if val_loss < best["val_loss"]:  # the best model so far is the one kept
                best.update(val_loss=val_loss, epoch=epoch + 1)
                if world.main:
                    save_model(run_dir, parts.final_model, {**meta, "epoch": epoch + 1})
            elif epoch + 1 - best["epoch"] >= t.patience:
                best["stopped"] = True
                log.info(
                    "early stop: no better validation loss for %d epochs; keeping epoch %d's "
                    "model (validation loss %.4f)",
                    t.patience,
                    best["epoch"],
                    best["val_loss"],
                )
        if world.main:
            save_state(run_dir, {**_snapshot(parts, epoch + 1, t.epochs), "best": dict(best)})
        log.info(
            "epoch %d/%d  lambda %.2f  loss %.4f  %.0fs",
            epoch + 1,
            t.epochs,
            lam,
            np.mean(losses),
            seconds,
        )
        if stop_after is not None and epoch + 1 >= stop_after and epoch + 1 < t.epochs:
            log.info("stopped after epoch %d of %d: --resume continues", epoch + 1, t.epochs)
            return run_dir
    if not early_stopping and world.main:
        save_model(run_dir, parts.final_model, meta)
    return run_dir


def _prepare(item: Any, train_set: ImageSet, augment: BatchAugment) -> Batch:
    """A sampler's item (indices, or indices with given candidate pairs) -> a batch."""
    index, candidates = item if isinstance(item, tuple) else (item, None)
    images = torch.from_numpy(np.ascontiguousarray(train_set.images[index]))
    labels = torch.from_numpy(train_set.labels[index])
    groups = None if train_set.groups is None else torch.from_numpy(train_set.groups[index])
    if candidates is None:
        candidates = candidate_pairs(labels)
    x = augment(images)
    return Batch(x, labels, groups, candidates, augment.gen.get_state())


@torch.no_grad()
def _embed_subset(
    model: torch.nn.Module, index: np.ndarray, images: np.ndarray, bf16: bool, batch: int = 1000
) -> np.ndarray:
    """``(n, D)`` embeddings of the training images at ``index`` (no augmentation)."""
    out, device = [], next(model.parameters()).device
    for start in range(0, len(index), batch):
        x = to_input(torch.from_numpy(np.ascontiguousarray(images[index[start : start + batch]])))
        with autocast(bf16, device):
            out.append(model(x.to(device)).float().cpu().numpy())
    return np.concatenate(out)


def _init_from_data(parts: Parts, train_set: ImageSet, seed: int, count: int = 5000) -> None:
    """Data-dependent initialisation (a whitened first conv) from a sample of the training
    images; a resumed run overwrites it with its checkpoint."""
    pick = np.sort(np.random.default_rng(seed).permutation(len(train_set))[:count])
    images = to_input(torch.from_numpy(np.ascontiguousarray(train_set.images[pick])))
    if images.dim() == 5:  # designs: every view is an image
        images = images.flatten(0, 1)
    if parts.model.init_from_data(images.to(parts.device)):
        log.info("initialised the backbone's first conv from %d training images", len(pick))


def _snapshot(parts: Parts, epochs_done: int, epochs: int) -> dict:
    return {
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "epochs_done": epochs_done,
        "epochs": epochs,
        "miner_rng": parts.miner.gen.get_state() if hasattr(parts.miner, "gen") else None,
        "torch_rng": torch.get_rng_state(),  # dropout's
        "ema": parts.ema.state_dict() if parts.ema is not None else None,
    }


def _restore(parts: Parts, state: dict, epochs: int) -> int:
    if int(state.get("epochs", epochs)) != epochs:
        raise SimNetError(
            f"this run was planned for {state['epochs']} epochs; resume it with "
            "the same number (its learning-rate schedule depends on it)"
        )
    parts.model.load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    parts.scheduler.load_state_dict(state["scheduler"])
    if state.get("miner_rng") is not None and hasattr(parts.miner, "gen"):
        parts.miner.gen.set_state(state["miner_rng"])
    if parts.ema is not None and state.get("ema") is not None:
        parts.ema.load_state_dict(state["ema"])
    if state.get("torch_rng") is not None:
        torch.set_rng_state(state["torch_rng"])
    return int(state["epochs_done"])


__all__ = ["train", "train_step", "build_parts"]
