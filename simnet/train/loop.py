"""The training loop: class-balanced batches, augmentation, one forward, OPMS, contrastive
loss, SGD with a one-cycle schedule; a checkpoint and a metrics row after every epoch.

Read :func:`train` and :func:`run_epoch` top to bottom: set up a :class:`Run`, resume it
if asked, then for each epoch train, validate, write a metrics row and a checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import itertools
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from simnet.config import Config, check_trainable, load_config
from simnet.data import BatchAugment, ImageSet, to_input
from simnet.data.defaults import resolve_data
from simnet.data.objects import describe, imageset_from
from simnet.errors import SimNetError
from simnet.mining import LambdaSchedule, Pairs, candidate_pairs, get_miner
from simnet.mining.offline import OfflineSampler
from simnet.models import SimNetModel, build_model
from simnet.models.simnet import OBJECT_PREFIX, model_from_object, object_name
from simnet.models.store import save_model
from simnet.runtime import autocast, seed_everything, set_threads, training_device
from simnet.storage import atomic_write_text, exclusive, remove_if_empty
from simnet.train.batches import (
    Sampler,
    TrainingData,
    offline_sampler,
    prepare_batch,
    sample_for_init,
    training_data,
)
from simnet.train.board import Board
from simnet.train.checkpoint import STATE_FILE, load_state, save_state
from simnet.train.distributed import World, init_world, leave_world
from simnet.train.prefetch import Prefetcher
from simnet.train.state import Checkpoint, EarlyStopping, EpochState
from simnet.train.step import (
    Parts,
    build_parts,
    check_weights,
    distribute,
    shard_count,
    train_step,
)

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


@dataclass(kw_only=True)
class Run:
    """One training run under way: its resolved config, parts, data and progress."""

    config: Config  # resolved: the data's path, the classifier's classes, the shards
    run_dir: Path
    parts: Parts
    data: TrainingData
    sampler: Sampler  # the data's, or offline mining's
    world: World
    progress: bool
    meta: dict[str, Any]  # written beside the model
    best: EarlyStopping
    prefetch: int  # batches prepared ahead on a thread (0: none)
    board: Board  # TensorBoard logs, when on

    @property
    def early_stopping(self) -> bool:
        return self.config.train.patience > 0 and self.data.val is not None

    def save_checkpoint(self, epochs_done: int, within: EpochState | None = None) -> None:
        """The training state after ``epochs_done`` epochs (and ``within`` the next); never
        weights that are not finite (the last good checkpoint stays)."""
        step = f", step {within.step}" if within is not None else ""
        check_weights(self.parts, f"in epoch {epochs_done + 1}{step}")
        if self.world.main:
            checkpoint = snapshot(self.parts, epochs_done, self.config.train.epochs)
            checkpoint.best, checkpoint.within = replace(self.best), within
            save_state(self.run_dir, checkpoint.to_dict())


def train(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    train_images: ImageSet | None = None,
    stop_after: int | None = None,
    *,
    model: torch.nn.Module | None = None,
    dataset: Any = None,
) -> Path:
    """Trains a SimNet model and writes a run folder.

    The folder holds ``config.yaml`` (resolved), ``metrics.csv`` (one row per epoch),
    ``checkpoint.pt`` (the full training state, after every epoch) and, at the end,
    ``model.safetensors`` with ``model.json``. ``config`` itself is never changed.

    Args:
        config: the configuration.
        out_dir: the run folder.
        resume: continue from the run folder's checkpoint.
        progress: show a progress bar.
        train_images: train on these images instead of the training split of
            ``config.data.source`` (cross-validation folds); nothing else is read.
        stop_after: stop after this many epochs of the planned schedule, with the
            checkpoint written (``resume`` continues), and no model file.
        model: train this network instead of the one ``config.model`` describes: a
            :class:`~simnet.models.SimNetModel`, or any ``nn.Module`` from normalised
            ``(B, 3, S, S)`` images to features, which becomes CNN1 with the config's
            branches, projection and heads around it. Load the run with
            ``SimNet.load(run, model=...)`` and a new module of the same architecture.
        dataset: train on this instead of ``config.data.source``: any map-style dataset
            of ``(image, label)`` items (torchvision's ``ImageFolder``, ``CIFAR10``, a
            list; see :mod:`simnet.data.objects`), all of it for training.

    Under ``torchrun`` every process runs this function; they share each batch (see
    :mod:`simnet.train.distributed`) and only the first writes the run folder.
    Returns: the run folder.
    """
    run_dir = Path(out_dir)
    train_images, dataset_name = _given_images(config, dataset, train_images)
    device = training_device(config.train.device)
    world = init_world(device)
    created = world.main and not run_dir.exists()
    try:
        if world.main:  # the writer: one at a time per run folder
            run_dir.mkdir(parents=True, exist_ok=True)
        with exclusive(run_dir, wait=False) if world.main else contextlib.nullcontext():
            given = (train_images, world, device, model, dataset_name)
            run = start_run(config, run_dir, progress and world.main, *given)
            with contextlib.closing(run.board):
                _train(run, resume, stop_after)
        world.barrier()  # every process done before the first's files are read
        return run_dir
    except BaseException:
        if created:  # a run that failed before writing anything leaves no folder behind
            remove_if_empty(run_dir)
        raise
    finally:
        leave_world(world)


def _given_images(
    config: Config, dataset: Any, train_images: ImageSet | None
) -> tuple[ImageSet | None, str | None]:
    """The images a dataset object holds (decoded) and its name; else ``train_images``."""
    if dataset is None:
        return train_images, None
    if train_images is not None:
        raise SimNetError("give train_images or dataset, not both")
    if config.model.views:
        raise SimNetError("a dataset object holds single images: designs train from a folder")
    images = imageset_from(dataset, config.data.image_size, config.data.keep_aspect)
    return images, describe(dataset)


def _train(run: Run, resume: bool, stop_after: int | None) -> None:
    """Resumes ``run`` if asked, then trains its remaining epochs."""
    epochs, world = run.config.train.epochs, run.world
    start, within = resume_run(run) if resume else new_run(run)
    distribute(run.parts)
    if world.main:
        run.config.save(run.run_dir / "config.yaml")
    _log_start(run)
    schedule = _schedule(run.config)
    for epoch in range(start, epochs):
        if run.best.stopped:
            break
        lam = schedule(epoch)
        figures = run_epoch(run, epoch, lam, within)
        within = None
        end_epoch(run, epoch, lam, figures)
        if stop_after is not None and epoch + 1 >= stop_after and epoch + 1 < epochs:
            log.info("stopped after epoch %d of %d: --resume continues", epoch + 1, epochs)
            return
    if not run.early_stopping:
        check_weights(run.parts, f"after epoch {epochs}")  # no model of NaNs, ever
        if world.main:
            save_model(run.run_dir, run.parts.final_model, run.meta)
    if world.main and run.config.model.views and run.data.train.groups is not None:
        calibrate_run(run)


def calibrate_run(run: Run) -> None:
    """Writes the saved model's calibration (what its similarities mean) from the
    training designs: what ``compare`` states its verdicts and percentiles with."""
    from simnet.calibration import write_calibration
    from simnet.eval.designs import drawing_style
    from simnet.inference import SimNet

    custom = run.config.model.backbone.startswith(OBJECT_PREFIX)  # a model object's run
    net = SimNet.load(run.run_dir, model=copy.deepcopy(run.parts.model) if custom else None)
    train = run.data.train
    styles = sorted({s for s in map(drawing_style, train.keys) if s})
    write_calibration(run.run_dir, net.embed_array(train.images), train, styles)


def run_epoch(run: Run, epoch: int, lam: float, resumed: EpochState | None) -> EpochState:
    """Trains one epoch at curriculum level ``lam`` (from where ``resumed`` stood, when a
    checkpoint was taken within it), checkpointing every ``train.checkpoint_minutes``."""
    t, sampler = run.config.train, run.sampler
    sampler.set_epoch(epoch)
    augment = BatchAugment(
        run.config.augment, seed=t.seed * 1_000_003 + epoch, views=tuple(run.config.model.views)
    )
    figures = resumed or EpochState()
    if resumed is not None and resumed.augment_rng is not None:  # as it stood at the cut
        augment.gen.set_state(resumed.augment_rng)
    started = time.perf_counter() - figures.seconds
    bar = tqdm(
        total=len(sampler),
        initial=figures.step,
        desc=f"epoch {epoch + 1}/{t.epochs}",
        unit="batch",
        disable=not run.progress,
        leave=False,
    )
    prepare = partial(prepare_batch, train_set=run.data.train, augment=augment)
    items = itertools.islice(iter(sampler), figures.step, None)
    saved = time.monotonic()
    parts = run.parts
    for batch in Prefetcher(prepare, items, run.prefetch):
        loss, stats = train_step(
            parts, batch.x, batch.labels, lam, batch.groups, batch.candidates, batch.attributes
        )
        figures.add(loss, stats)
        run.board.step(epoch * len(sampler) + figures.step, loss)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", lam=f"{lam:.2f}")
        if _checkpoint_due(run, saved) and figures.step < len(sampler):
            figures.seconds, figures.augment_rng = (
                time.perf_counter() - started,
                batch.augment_state,
            )
            run.save_checkpoint(epoch, within=figures)
            saved = time.monotonic()
    bar.close()
    figures.seconds = time.perf_counter() - started
    return figures


def end_epoch(run: Run, epoch: int, lam: float, figures: EpochState) -> None:
    """Validation, the metrics row, early stopping (the best epoch's model is the one
    kept) and the epoch's checkpoint."""
    t, val = run.config.train, run.data.val
    check_weights(run.parts, f"in epoch {epoch + 1}")  # before they are validated or saved
    val_loss = validation_loss(run.parts, val, run.config) if val else math.nan
    if run.world.main:
        row = _metrics_row(run, epoch, lam, figures, val_loss)
        _write_row(run.run_dir / METRICS_FILE, row)
        run.board.epoch(row)
    if run.world.active:
        log.info(
            "epoch %d: %d of %d mined pairs joined images embedded by different processes",
            epoch + 1,
            figures.cross,
            figures.positives + figures.negatives,
        )
    if run.early_stopping and run.best.update(val_loss, epoch + 1, t.patience):
        if run.world.main:
            save_model(run.run_dir, run.parts.final_model, {**run.meta, "epoch": epoch + 1})
    elif run.early_stopping and run.best.stopped:
        log.info(
            "early stop: no better validation loss for %d epochs; keeping epoch %d's "
            "model (validation loss %.4f)",
            t.patience,
            run.best.epoch,
            run.best.val_loss,
        )
    run.save_checkpoint(epoch + 1)
    mean = np.mean(figures.losses)
    log.info(
        "epoch %d/%d  lambda %.2f  loss %.4f  %.0fs",
        epoch + 1,
        t.epochs,
        lam,
        mean,
        figures.seconds,
    )


def start_run(
    config: Config,
    run_dir: Path,
    progress: bool,
    train_images: ImageSet | None,
    world: World,
    device: torch.device,
    model_object: torch.nn.Module | None = None,
    dataset_name: str | None = None,
) -> Run:
    """Threads and seed, the data, the resolved config and the parts of a new run
    (``model_object``: train it; ``dataset_name``: ``train_images`` came from a dataset
    object so named, and ``config.data.source`` is not read)."""
    check_trainable(config)
    get_miner(config.mining.strategy)  # an unknown strategy fails before any decoding
    t = config.train
    board = Board(run_dir, t.tensorboard, write=world.main)  # train.tensorboard=on: installed?
    set_threads(t.threads or max(1, (os.cpu_count() or 1) // world.local_size))  # shared cores
    seed_everything(t.seed)
    classify = config.loss.name == "cross-entropy"
    identity = config.loss.identity_weight > 0
    # First: missing weights fail before any decoding (a classifier needs the class count).
    model = None if classify or identity else _network(config, model_object)
    data_path = _data_path(config, dataset_name)
    with _first_process_first(world):  # the first decodes the data into the cache
        data = training_data(config, data_path, train_images)
    if classify and data.pairs_csv:
        raise SimNetError("loss.name=cross-entropy needs single images with class labels")
    per_class = classify or (identity and not data.pairs_csv)  # a head of the data's classes
    config = _resolved(config, data_path, len(data.classes) if per_class else None, world)
    if model_object is not None:  # a run that cannot be rebuilt from its config says so
        config = config.replace(model={"backbone": object_name(model_object)})
    model = model if model is not None else _network(config, model_object)
    parts = build_parts(config, t.epochs * len(data.sampler), model, world, device)
    sampler, prefetch = _batches(config, data, parts, run_dir)
    _warn_of_losses_off(config, parts, data)
    if config.model.whiten:
        _init_from_data(parts, data.train, t.seed)
    meta = {
        "config": config.to_dict(),
        "classes": data.classes,
        "data": str(data_path),
        "format": 1,
    }
    return Run(
        config=config,
        run_dir=run_dir,
        parts=parts,
        data=data,
        sampler=sampler,
        world=world,
        progress=progress,
        meta=meta,
        best=EarlyStopping(),
        prefetch=prefetch,
        board=board,
    )


def _warn_of_losses_off(config: Config, parts: Parts, data: TrainingData) -> None:
    """Says so when a loss the config sets has nothing to work on in this data."""
    if parts.group_loss is not None and data.train.groups is None:
        log.warning(
            "loss.group_weight is set but the data has no groups (designs with "
            "data.labels=design have their families): the group loss is off"
        )
    if config.loss.identity_weight and not parts.identity_weight:
        log.warning(
            "loss.identity_weight is set but a pairs CSV has no classes to tell apart: "
            "the identity loss is off"
        )


def _network(config: Config, model_object: torch.nn.Module | None) -> SimNetModel:
    """The network to train: the config's, or the model object given."""
    if model_object is None:
        return build_model(config.model)
    return model_from_object(model_object, config.model, config.data.image_size)


def _data_path(config: Config, dataset_name: str | None) -> Path:
    """The data's path, or for a dataset object its name (what the run records)."""
    if dataset_name is None:
        return resolve_data(config.data.source, config.data.cache_dir).resolve()
    return Path(f"{OBJECT_PREFIX}{dataset_name}")


def _resolved(config: Config, data_path: Path, classes: int | None, world: World) -> Config:
    """A copy of ``config`` that records what training resolved: the data's absolute path
    (evaluate and index find it from any folder), a classifier's class count, and the
    batch-norm shards (so a resume in one process normalises alike)."""
    model = {} if classes is None else {"classes": classes}
    return config.replace(
        data={"source": str(data_path)},
        model=model,
        train={"shards": shard_count(config, world)},
    )


def _batches(
    config: Config, data: TrainingData, parts: Parts, run_dir: Path
) -> tuple[Sampler, int]:
    """The batch sampler and prefetch depth: the data's, or offline mining's (whose model
    snapshots must be taken between steps, so nothing is prepared ahead)."""
    if config.mining.strategy != "offline":
        return data.sampler, config.train.prefetch
    if parts.world.active:
        raise SimNetError("mining.strategy=offline runs in one process, not under torchrun")
    return offline_sampler(config, data, parts.model, parts.bf16, run_dir), 0


def resume_run(run: Run) -> tuple[int, EpochState | None]:
    """Restores the run folder's checkpoint; returns the epoch to start from and, for a
    checkpoint taken within that epoch, where it stood."""
    path = run.run_dir / STATE_FILE
    try:
        checkpoint = Checkpoint.from_dict(load_state(run.run_dir), run.config.train.epochs)
        restore(run.parts, checkpoint, run.config.train.epochs)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:  # weights of another model
        raise SimNetError(f"cannot resume from {path}: {_why_not(run, exc)}") from None
    except SimNetError as exc:
        raise SimNetError(f"cannot resume from {path}: {exc}") from None
    run.best = checkpoint.best
    return checkpoint.epochs_done, checkpoint.within


def _why_not(run: Run, exc: Exception) -> str:
    """Why a checkpoint does not load into this run's parts, in one line: the model
    settings changed since the run was started, or else what torch says doesn't fit."""
    changed = _changed_model_settings(run)
    if changed:
        return (
            f"{changed[0]} (the checkpoint's weights have another shape): resume with the "
            "run's own settings, or train into another --out"
        )
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    detail = next(
        (line for line in lines if line.startswith(("size mismatch", "Missing", "Unexpected"))),
        None,
    )
    return (detail or (lines[0] if lines else type(exc).__name__))[:300]


def _changed_model_settings(run: Run) -> list[str]:
    """``model.KEY is NEW here but OLD in the run`` for each setting that shapes the
    network (model.*, data.image_size) and differs from the run's saved config.yaml."""
    try:
        saved = load_config(run.run_dir / "config.yaml")
    except SimNetError:
        return []
    now, then = run.config.to_dict(), saved.to_dict()
    keys = [("model", k) for k in now["model"]] + [("data", "image_size")]
    return [
        f"{section}.{key} is {now[section][key]!r} here but {then[section][key]!r} in the run"
        for section, key in keys
        if now[section].get(key) != then[section].get(key)
    ]


def new_run(run: Run) -> tuple[int, None]:
    """A run from its first epoch, in a folder that holds no other."""
    if (run.run_dir / STATE_FILE).exists():
        raise SimNetError(
            f"{run.run_dir} already holds a run: pass --resume to continue it, or choose "
            "another --out"
        )
    return 0, None


def snapshot(parts: Parts, epochs_done: int, epochs: int) -> Checkpoint:
    """The training state of ``parts`` after ``epochs_done`` epochs."""
    return Checkpoint(
        model=parts.model.state_dict(),
        optimizer=parts.optimizer.state_dict(),
        scheduler=parts.scheduler.state_dict(),
        epochs_done=epochs_done,
        epochs=epochs,
        miner=parts.miner.state_dict(),
        torch_rng=torch.get_rng_state(),  # dropout's
        ema=parts.ema.state_dict() if parts.ema is not None else None,
    )


def restore(parts: Parts, checkpoint: Checkpoint, epochs: int) -> None:
    """Loads ``checkpoint`` into ``parts``; the run must be planned for as many epochs."""
    if checkpoint.epochs != epochs:
        raise SimNetError(
            f"this run was planned for {checkpoint.epochs} epochs; resume it with "
            "the same number (its learning-rate schedule depends on it)"
        )
    parts.model.load_state_dict(checkpoint.model)
    parts.optimizer.load_state_dict(checkpoint.optimizer)
    parts.scheduler.load_state_dict(checkpoint.scheduler)
    if checkpoint.miner:
        parts.miner.load_state_dict(checkpoint.miner)
    if parts.ema is not None and checkpoint.ema is not None:
        parts.ema.load_state_dict(checkpoint.ema)
    if checkpoint.torch_rng is not None:
        torch.set_rng_state(checkpoint.torch_rng)


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
    if parts.classify:
        return float(F.cross_entropy(model.logits(embeddings), labels.to(parts.device)))
    pos, neg = candidate_pairs(labels)
    return float(parts.loss(embeddings, Pairs.cat([pos, neg]).to(parts.device)))


def _metrics_row(
    run: Run, epoch: int, lam: float, figures: EpochState, val_loss: float
) -> dict[str, Any]:
    seconds, steps = figures.seconds, len(run.sampler)
    return {
        "epoch": epoch + 1,
        "lambda": round(lam, 4),
        "lr": f"{run.parts.scheduler.get_last_lr()[0]:.5g}",
        "train_loss": f"{np.mean(figures.losses):.6f}",
        "positives": figures.positives,
        "negatives": figures.negatives,
        "val_loss": f"{val_loss:.6f}" if run.data.val else "",
        "seconds": f"{seconds:.1f}",
        "images_per_second": f"{steps * run.sampler.batch_size / seconds:.0f}",
    }


def _write_row(path: Path, row: dict) -> None:
    rows = []
    if path.is_file():
        with path.open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if int(r["epoch"]) < row["epoch"]]
    rows.append(row)
    lines = [",".join(COLUMNS)] + [",".join(str(r.get(c, "")) for c in COLUMNS) for r in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


def _schedule(config: Config) -> LambdaSchedule:
    m = config.mining
    return LambdaSchedule(config.train.epochs, m.lambda_start, m.lambda_step, m.lambda_max)


def _checkpoint_due(run: Run, saved: float) -> bool:
    """A checkpoint within the epoch is due: ``train.checkpoint_minutes`` since the last
    one. Not for offline mining, which re-mines from the model as it goes and so cannot
    draw the same batches again from where a checkpoint stood."""
    minutes = run.config.train.checkpoint_minutes
    if not minutes or not run.world.main or isinstance(run.sampler, OfflineSampler):
        return False
    return time.monotonic() - saved >= 60 * minutes


@contextlib.contextmanager
def _first_process_first(world: World) -> Iterator[None]:
    """The first process runs the block, then the others (which find its cache)."""
    if not world.main:
        world.barrier()
    yield
    if world.main:
        world.barrier()


def _init_from_data(parts: Parts, train_set: ImageSet, seed: int) -> None:
    """Data-dependent initialisation (a whitened first conv) from a sample of the training
    images; a resumed run overwrites it with its checkpoint."""
    images, count = sample_for_init(train_set, seed)
    if parts.model.init_from_data(images.to(parts.device)):
        log.info("initialised the backbone's first conv from %d training images", count)


def _log_start(run: Run) -> None:
    world, data = run.world, run.data
    log.info(
        "training on %d images of %d classes from %s (%d steps/epoch, bf16=%s%s)",
        len(data.train),
        data.train.num_classes_present,
        run.config.data.source,
        len(run.sampler),
        run.parts.bf16,
        f", {world.size} processes" if world.active else "",
    )


__all__ = ["Run", "end_epoch", "run_epoch", "start_run", "train", "train_step", "build_parts"]
