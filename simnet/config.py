"""Typed configuration: one dataclass per part, YAML in, ``section.key=value`` overrides.

The resolved configuration is saved beside every run's outputs (``config.yaml``), so a run
can always be repeated with ``simnet train --config RUN/config.yaml``.

A setting with a fixed set of values is annotated ``Literal[...]``: that annotation is the
one list of its values, checked whenever a config is loaded, overridden or validated.
``mining.strategy`` is a name in the miner registry, checked when the miner is created
(:func:`simnet.mining.create_miner`), since the registry lives above this module.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterable
from copy import deepcopy
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from simnet.errors import SimNetError

# The distances between embeddings that simnet.distances computes (declared here, where
# settings are checked, so that reading a config needs no torch).
Metric = Literal["euclidean", "cosine", "l1"]

# Each section's ``checks()`` lists its range rules: (whether a rule holds, what it says).
# Every number has a lower and an upper bound there (a value past a sane maximum is a typo
# or an attack, never a run); that every number is finite is checked for all of them alike
# (:func:`validate`), and settings in pixels against the image size in :func:`_check_sizes`.
Check = tuple[bool, str]

# The largest seed numpy and torch both take.
MAX_SEED = 2**32 - 1


def at_most(key: str, value: float | None, high: float) -> Check:
    """The rule that ``value`` (None: unset, allowed) is at most ``high``."""
    return (value is None or value <= high, f"{key} must be at most {high}, not {value}")


def all_at_most(key: str, values: list[int], high: int) -> Check:
    return (
        all(v <= high for v in values),
        f"{key} must be at most {high}, not {max(values, default=0)}",
    )


@dataclass
class DataConfig:
    source: str | None = None  # folder, .tar(.gz), CSV or CIFAR-10 batches; None: default
    image_size: int = 32  # every image is decoded once to image_size x image_size RGB
    test_fraction: float = 0.2  # held out (by a hash of the path) when the source has no test split
    val_fraction: float = 0.0  # of the training split, for per-epoch validation loss
    cache_dir: str | None = None  # decode cache; None: $SIMNET_CACHE or ~/.cache/simnet
    # Designs (model.views set) are labelled by family, or by design: each design a class
    # whose drawings are its samples.
    labels: Literal["family", "design"] = "family"
    # Designs: each view cropped to what is drawn on it before it is scaled to image_size,
    # so a drawing's margins and the share of the frame it fills do not matter.
    trim: bool = False
    # Designs: a view is levelled (a scan's skew of up to 8 degrees), laid flat where it
    # is more than 1.5 times taller than wide (turned a quarter), and one longer than
    # max_aspect times its height, such as a package's section, is stretched to
    # max_aspect : 1 before it is padded square and scaled, so that it keeps more of the
    # image's rows, its vertical exaggeration matters less, and a section drawn upright
    # frames as one drawn across. None: every view keeps its aspect and orientation.
    max_aspect: float | None = None
    # Single images: a photo that is not square is padded to a square with its border's
    # colour before it is scaled (its aspect kept, nothing cut off); off: stretched.
    keep_aspect: bool = False

    def checks(self) -> list[Check]:
        return [
            (self.image_size >= 8, "data.image_size must be at least 8"),
            at_most("data.image_size", self.image_size, 4096),
            (0.0 <= self.test_fraction < 1.0, "data.test_fraction must be in [0, 1)"),
            (0.0 <= self.val_fraction < 1.0, "data.val_fraction must be in [0, 1)"),
            (
                self.max_aspect is None or self.max_aspect >= 1.0,
                "data.max_aspect must be at least 1 (or null: aspect kept)",
            ),
            at_most("data.max_aspect", self.max_aspect, 1000.0),
        ]


@dataclass
class AugmentConfig:
    # Random crop with zero padding = translation by up to this many px. On the fast preset's
    # 13-epoch budget, 2 px gave 0.8498 1-NN accuracy against 0.8357 with 4 (BENCHMARKS.md).
    crop_padding: int = 2
    hflip: bool = True
    rotation: float = 0.0  # max degrees either way
    zoom: float = 0.0  # max relative scale change, e.g. 0.1 for 0.9..1.1
    shear: float = 0.0  # max degrees either way
    noise_std: float = 0.0  # Gaussian noise on [0, 1] pixels
    brightness: float = 0.0  # max additive change on [0, 1] pixels
    contrast: float = 0.0  # max relative change, e.g. 0.2 for 0.8..1.2
    # The looks a drawing comes in (probability per image): greyscale, swapped colour
    # channels (another palette), inverted (a dark theme from a light one).
    greyscale: float = 0.0
    channel_shuffle: float = 0.0
    invert: float = 0.0
    # How drawings differ beyond their colours. frame: the drawing shrunk to as little as
    # (1 - frame) of the frame, on its paper, anywhere in it; stretch: its width and height
    # scaled apart by up to this share; stroke: probability that lines get thicker or
    # thinner (a 3x3 min or max filter); blur: up to this Gaussian sigma (px); jpeg:
    # probability of a JPEG round trip at quality jpeg_quality..95.
    frame: float = 0.0
    stretch: float = 0.0
    stroke: float = 0.0
    blur: float = 0.0
    jpeg: float = 0.0
    jpeg_quality: int = 30
    # Turned drawings: the probability that an image is turned by a random quarter (90, 180
    # or 270 degrees). A design's views are laid flat where data.max_aspect frames them, so
    # a view can only come out upside down: only the views in turn_views (drawn about
    # square, as a top view is, which laying flat cannot orient) take any quarter, the
    # others a half turn. Views not named: every view takes any quarter.
    turn: float = 0.0
    turn_views: list[str] | None = None

    def checks(self) -> list[Check]:
        probabilities = ("greyscale", "channel_shuffle", "invert", "stroke", "jpeg", "turn")
        return [
            (self.crop_padding >= 0, "augment.crop_padding must be 0 (off) or more pixels"),
            at_most("augment.crop_padding", self.crop_padding, 2048),
            (0.0 <= self.rotation <= 180.0, "augment.rotation must be in [0, 180] degrees"),
            (0.0 <= self.zoom < 1.0, "augment.zoom must be in [0, 1)"),
            (0.0 <= self.shear <= 80.0, "augment.shear must be in [0, 80] degrees"),
            (0.0 <= self.noise_std <= 1.0, "augment.noise_std must be in [0, 1]"),
            (0.0 <= self.brightness <= 1.0, "augment.brightness must be in [0, 1]"),
            (0.0 <= self.contrast <= 1.0, "augment.contrast must be in [0, 1]"),
            *[
                (0.0 <= getattr(self, p) <= 1.0, f"augment.{p} is a probability, in [0, 1]")
                for p in probabilities
            ],
            (0.0 <= self.frame < 1.0, "augment.frame must be in [0, 1)"),
            (0.0 <= self.stretch < 1.0, "augment.stretch must be in [0, 1)"),
            (self.blur >= 0.0, "augment.blur must be 0 (off) or a positive sigma"),
            at_most("augment.blur", self.blur, 256.0),
            (1 <= self.jpeg_quality <= 95, "augment.jpeg_quality must be 1 to 95"),
        ]


@dataclass
class ModelConfig:
    backbone: str = "compact"  # CNN1, from the backbone registry
    widths: list[int] = field(default_factory=lambda: [24, 48, 192, 256])  # compact: stem, blocks
    stem_stride: int = 1  # compact: 2 reads 2x2 patches, twice the image size at ~the same cost
    pool_grid: int = 1  # compact: 1 a global max-pool; 2 keeps which quarter a feature is in
    pool_mean: int = 0  # compact: the last N blocks' mean activations beside the max (counts)
    scales: list[int] = field(
        default_factory=lambda: [2, 4]
    )  # CNN2/CNN3 down-sampling; [] = single-scale
    # Per branch, in the order of scales; one value serves every branch.
    branch_width: list[int] = field(default_factory=lambda: [32])  # channels of the first conv
    branch_dim: list[int] = field(default_factory=lambda: [64])  # output size (paper: 512, 1024)
    branch_scale: float = 0.25  # initial (learnable) weight of each unit-norm branch output
    embedding_dim: int = 128  # 0: no projection, CNN1's features as they are (untrained use)
    dropout: float = 0.0  # before the fusion layer; the paper uses 0.5 on its long schedule
    whiten: bool = True  # initialise (and freeze) the backbone's first conv from the data
    views: list[str] = field(default_factory=list)  # [] = images; e.g. [top, front, side]
    view_fusion: Literal["concat", "mean"] = "concat"  # design embedding from view embeddings
    input_size: int | None = None  # images are resized to this inside the network; None: as is
    pretrained: bool = False  # CNN1 starts from torchvision's ImageNet weights (cache/download)
    weights: str | None = None  # ... or from this local file (a torchvision state dict)
    finetune_layers: int | None = None  # train only CNN1's top N layers (paper: 2); None: all
    # a cosine classifier head of this many classes (loss.name=cross-entropy, or
    # loss.identity_weight); training sets it from the data
    classes: int = 0
    # Designs: heads that predict these attributes (simnet.packages.attributes) from the
    # design embedding, trained with it; compare and search name the ones that differ.
    attributes: list[str] = field(default_factory=list)

    def checks(self) -> list[Check]:
        from simnet.packages.attributes import ATTRIBUTES

        unknown = [a for a in self.attributes if a not in ATTRIBUTES]
        return [
            (
                not unknown,
                f"model.attributes: unknown {unknown[:1]} (known: {', '.join(ATTRIBUTES)})",
            ),
            (self.classes >= 0, "model.classes must be 0 or more"),
            at_most("model.classes", self.classes, 10_000_000),
            (
                self.embedding_dim >= 2 or (self.embedding_dim == 0 and not self.scales),
                "model.embedding_dim must be at least 2 (or 0, no projection, with scales [])",
            ),
            at_most("model.embedding_dim", self.embedding_dim, 65_536),
            (min(self.widths, default=0) >= 1, "model.widths must be positive"),
            all_at_most("model.widths", self.widths, 16_384),
            (self.stem_stride in (1, 2), "model.stem_stride must be 1 or 2"),
            (
                self.stem_stride == 1 or self.backbone == "compact",
                "model.stem_stride is the compact backbone's; other backbones take 1",
            ),
            (1 <= self.pool_grid <= 8, "model.pool_grid must be 1 to 8"),
            (
                self.pool_grid == 1 or self.backbone == "compact",
                "model.pool_grid is the compact backbone's; other backbones take 1",
            ),
            (0 <= self.pool_mean < len(self.widths), "model.pool_mean must be 0 to the blocks"),
            (
                self.pool_mean == 0 or self.backbone == "compact",
                "model.pool_mean is the compact backbone's; other backbones take 0",
            ),
            (0.0 <= self.dropout < 1.0, "model.dropout must be in [0, 1)"),
            (all(s >= 2 for s in self.scales), "model.scales must be down-sampling factors >= 2"),
            all_at_most("model.scales", self.scales, 1024),
            (0.0 < self.branch_scale <= 100.0, "model.branch_scale must be in (0, 100]"),
            (len(set(self.views)) == len(self.views), "model.views must not repeat a view"),
            (
                all(len(v) in (1, len(self.scales)) for v in (self.branch_width, self.branch_dim)),
                "model.branch_width and model.branch_dim take one value or one per scale",
            ),
            (
                min(self.branch_width + self.branch_dim, default=0) >= 1,
                "model.branch_width and model.branch_dim must be positive",
            ),
            all_at_most("model.branch_width", self.branch_width, 16_384),
            all_at_most("model.branch_dim", self.branch_dim, 65_536),
            (
                self.input_size is None or self.input_size >= 8,
                "model.input_size must be at least 8",
            ),
            at_most("model.input_size", self.input_size, 4096),
            (
                self.finetune_layers is None or self.finetune_layers >= 0,
                "model.finetune_layers must be 0 or more layers",
            ),
            at_most("model.finetune_layers", self.finetune_layers, 10_000),
        ]


@dataclass
class LossConfig:
    # cross-entropy: a classifier, Table 1's baseline
    name: Literal["contrastive", "cross-entropy"] = "contrastive"
    # The paper's m = 1. A margin of 1.4 (negatives pushed to near-orthogonal on the unit
    # sphere) measured 58.3% against 56.1% on a 10k-image proxy but only 0.8287 against
    # 0.8276 on the full fast preset (BENCHMARKS.md), so the paper's value stays.
    margin: float = 1.0
    metric: Metric = "euclidean"  # simnet.distances.METRICS
    balance: bool = True  # weigh the mean positive and mean negative loss equally
    # Group loss (designs with data.labels=design: the families): weight 0 = off.
    group_weight: float = 0.0
    group_radius: float = 0.8  # different designs of one family pulled within this distance
    group_margin: float = 1.2  # designs of different families pushed beyond it
    attribute_weight: float = 0.5  # cross-entropy of the model.attributes heads, per head
    # ... and a weight of its own for some of them: {memory_stacks: 0.3}
    attribute_weights: dict[str, float] = field(default_factory=dict)
    # Identity loss beside the contrastive one: a cosine classifier over the training
    # classes (with data.labels=design, each design), so that every step pushes each image
    # away from every class, not only from the negatives its batch holds. 0 = off; with
    # loss.name=cross-entropy the classifier is all there is, and this is not used.
    identity_weight: float = 0.0

    def checks(self) -> list[Check]:
        return [
            (self.margin > 0, "loss.margin must be positive"),
            at_most("loss.margin", self.margin, 100.0),
            (
                0 <= self.group_radius < self.group_margin,
                "loss.group_radius must be below loss.group_margin",
            ),
            at_most("loss.group_margin", self.group_margin, 100.0),
            (self.group_weight >= 0, "loss.group_weight must be 0 (off) or positive"),
            at_most("loss.group_weight", self.group_weight, 1000.0),
            (self.attribute_weight >= 0, "loss.attribute_weight must be 0 or positive"),
            at_most("loss.attribute_weight", self.attribute_weight, 1000.0),
            (
                all(0 <= w <= 1000.0 for w in self.attribute_weights.values()),
                "loss.attribute_weights must be between 0 and 1000",
            ),
            (self.identity_weight >= 0, "loss.identity_weight must be 0 (off) or positive"),
            at_most("loss.identity_weight", self.identity_weight, 1000.0),
        ]


@dataclass
class MiningConfig:
    # opms, or one of Table 2's baselines: a name in simnet.mining's registry, which lists
    # them (list_miners) and checks this when the miner is created
    strategy: str = "opms"
    # Algorithm 1 starts at 0 and adds 1/epochs per epoch. On the fast preset's short budget
    # the hardest negatives are needed early (a 10k-image proxy: 56.0% 1-NN at lambda = 1
    # against 51.3% rising from 0.5), so the curriculum is over after one epoch.
    lambda_start: float = 0.5
    lambda_step: float | None = 0.25  # per epoch; None: 1 / epochs (Algorithm 1)
    lambda_max: float = 1.0  # the paper's Table 2 knob
    max_negatives: int | None = None  # random candidate negatives per batch; None: all
    min_negative_fraction: float = 0.1  # share of surviving negatives kept at lambda = 0
    outlier_fraction: float = 0.02  # hardest pairs dropped at lambda = 0, none at lambda = 1
    prune_positives: bool = True  # drop positives that already satisfy the pair constraint
    prune_negatives: bool = True  # drop negatives beyond the margin (off: they stay, at zero
    # loss, in the balanced loss's mean over negatives, as in a plain all-pairs loss)
    negatives_per_positive: float = 1.0  # random and hardest: negatives drawn per positive
    pairs_per_batch: int | None = None  # random: pairs per batch; None: every positive + ratio
    offline_every: int = 100  # offline: steps between re-mining from a model snapshot
    offline_pool: int = 5000  # offline: training images the snapshot embeds and mines

    def checks(self) -> list[Check]:
        return [
            (0.0 <= self.lambda_start <= 1.0, "mining.lambda_start must be in [0, 1]"),
            (
                self.lambda_step is None or 0.0 <= self.lambda_step <= 1.0,
                "mining.lambda_step must be in [0, 1] (or null: 1 / epochs)",
            ),
            (0.0 < self.lambda_max <= 1.0, "mining.lambda_max must be in (0, 1]"),
            (
                0.0 < self.min_negative_fraction <= 1.0,
                "mining.min_negative_fraction must be in (0, 1]",
            ),
            (0.0 <= self.outlier_fraction < 0.5, "mining.outlier_fraction must be in [0, 0.5)"),
            (self.negatives_per_positive > 0, "mining.negatives_per_positive must be positive"),
            at_most("mining.negatives_per_positive", self.negatives_per_positive, 1000.0),
            (
                self.max_negatives is None or self.max_negatives >= 1,
                "mining.max_negatives must be at least 1 (or null: all)",
            ),
            at_most("mining.max_negatives", self.max_negatives, 1_000_000_000),
            (self.offline_every >= 1, "mining.offline_every must be at least 1 step"),
            at_most("mining.offline_every", self.offline_every, 10_000_000),
            (self.offline_pool >= 2, "mining.offline_pool must be at least 2 images"),
            at_most("mining.offline_pool", self.offline_pool, 10_000_000),
            (
                self.pairs_per_batch is None or self.pairs_per_batch >= 2,
                "mining.pairs_per_batch must be at least 2",
            ),
            at_most("mining.pairs_per_batch", self.pairs_per_batch, 10_000_000),
        ]


@dataclass
class TrainConfig:
    epochs: int = 14  # 0.8515 1-NN on CIFAR-10 in 19.3 min here (BENCHMARKS.md)
    batch_size: int = 500
    per_class: int = 50  # m images per class in a batch; classes per batch = batch_size // m
    # Designs: a batch's designs come from this many families (0: from all), so that its
    # negatives are mostly designs of one family, the ones a search must tell apart
    groups_per_batch: int = 0
    lr: float = 0.4  # peak of the one-cycle schedule
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    # constant: the paper's fixed learning rate
    schedule: Literal["one-cycle", "constant"] = "one-cycle"
    warmup: float = 0.2  # one-cycle: fraction of steps spent rising to the peak learning rate
    patience: int = 0  # early stopping: epochs without a better validation loss (0: off);
    # needs data.val_fraction > 0, and the model kept is the best epoch's
    # bf16 autocast; auto: where the device has bf16 units
    bf16: Literal["auto", "on", "off"] = "auto"
    channels_last: bool = True
    ema_decay: float = 0.0  # exponential moving average of the weights (0: off); saved if on
    seed: int = 0
    threads: int | None = None  # torch intra-op threads; None: all cores (shared by processes)
    # Batch-norm groups per batch: the batch is embedded in this many equal slices, each
    # normalised alone (ghost batches). Under torchrun: 1 or the number of processes, and
    # the run records that number, so it resumes alike in any number of processes.
    shards: int = 1
    # Batches prepared ahead on a background thread (0: in the step). Off by default: on a
    # 2-core CPU the thread's tensor work competes with the step's and costs 4-7% per step
    # while preparation is only 1-2% of it (benchmarks/background_batches.py).
    prefetch: int = 0
    # A checkpoint is written at every epoch's end and, within an epoch, once this many
    # minutes have passed since the last (0: only at epoch ends); a resume continues from
    # the step it holds, exactly as if never stopped.
    checkpoint_minutes: float = 10.0
    # Where the steps run: auto (a GPU when there is one, else the CPU), cpu, cuda (under
    # torchrun, each process its own GPU by LOCAL_RANK, with NCCL), or cuda:N.
    device: str = "auto"
    # TensorBoard logs in RUN/tensorboard/ (the loss of every step, each epoch's metrics):
    # auto: when TensorBoard is installed (pip install 'simnet[tensorboard]'); on; off.
    tensorboard: Literal["auto", "on", "off"] = "auto"

    def checks(self) -> list[Check]:
        return [
            (self.epochs >= 1, "train.epochs must be at least 1"),
            at_most("train.epochs", self.epochs, 100_000),
            (
                self.per_class >= 2,
                "train.per_class must be at least 2 (positive pairs need two images)",
            ),
            (
                self.batch_size >= 2 * self.per_class,
                "train.batch_size must hold at least two classes",
            ),
            (self.groups_per_batch >= 0, "train.groups_per_batch must be 0 (off) or more"),
            at_most("train.groups_per_batch", self.groups_per_batch, 1_000_000),
            at_most("train.batch_size", self.batch_size, 1_000_000),
            (self.lr > 0, "train.lr must be positive"),
            at_most("train.lr", self.lr, 100.0),
            (0.0 <= self.momentum < 1.0, "train.momentum must be in [0, 1)"),
            (
                not self.nesterov or self.momentum > 0,
                "train.nesterov needs train.momentum above 0 (or train.nesterov=false)",
            ),
            (0.0 <= self.weight_decay <= 1.0, "train.weight_decay must be in [0, 1]"),
            (0.0 <= self.warmup <= 1.0, "train.warmup must be in [0, 1]"),
            (0.0 <= self.ema_decay < 1.0, "train.ema_decay must be in [0, 1)"),
            (self.patience >= 0, "train.patience must be 0 (off) or more epochs"),
            at_most("train.patience", self.patience, 100_000),
            (0 <= self.seed <= MAX_SEED, f"train.seed must be in [0, {MAX_SEED}]"),
            (
                self.threads is None or self.threads >= 1,
                "train.threads must be at least 1 (or null: all cores)",
            ),
            at_most("train.threads", self.threads, 4096),
            (self.prefetch >= 0, "train.prefetch must be 0 (off) or more batches"),
            at_most("train.prefetch", self.prefetch, 64),
            (self.checkpoint_minutes >= 0, "train.checkpoint_minutes must be 0 (off) or more"),
            at_most("train.checkpoint_minutes", self.checkpoint_minutes, 10_080.0),  # a week
            (self.shards >= 1, "train.shards must be at least 1"),
            at_most("train.shards", self.shards, 4096),
        ]


@dataclass
class EvalConfig:
    ks: list[int] = field(default_factory=lambda: [1, 5, 10])
    flip: bool = True  # average the embeddings of an image and its mirror image
    # ... and of the image moved this many pixels up-left and down-right (0: off). On the
    # fast preset: 0.8325 1-NN against 0.8276 with flips alone (BENCHMARKS.md).
    shift: int = 1
    pairs: int = 20000  # verification pairs (half similar) drawn from the test split
    batch_size: int = 1000

    def checks(self) -> list[Check]:
        return [
            (all(k >= 1 for k in self.ks), "eval.ks must be positive"),
            all_at_most("eval.ks", self.ks, 1_000_000),
            (self.shift >= 0, "eval.shift must be 0 or more pixels"),
            (self.pairs >= 2, "eval.pairs must be at least 2 (one similar, one not)"),
            at_most("eval.pairs", self.pairs, 100_000_000),
            (self.batch_size >= 1, "eval.batch_size must be at least 1"),
            at_most("eval.batch_size", self.batch_size, 1_000_000),
        ]


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    mining: MiningConfig = field(default_factory=MiningConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        """Writes the config as YAML (atomically: a reader never sees half a file)."""
        from simnet.storage import atomic_write_text

        atomic_write_text(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False))

    def copy(self) -> Config:
        """A deep copy: changing it leaves this config as it was."""
        return deepcopy(self)

    def replace(self, **sections: dict[str, Any]) -> Config:
        """A copy with some keys changed, each typed and checked as an override is, e.g.
        ``config.replace(data={"source": path}, train={"shards": 2})``. This config is
        left as it was."""
        changed = self.copy()
        _apply_sections(changed, sections)
        return changed


def one_of(allowed: Iterable[str]) -> str:
    """``a, b or c``."""
    names = list(allowed)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def bad_choice(key: str, value: Any, allowed: Iterable[str]) -> SimNetError:
    """The one-line error for a setting outside its allowed values."""
    return SimNetError(f"config: {key} must be {one_of(allowed)}, not {value!r}")


def _check_choice(value: Any, annotation: Any, where: str) -> Any:
    """``value`` when its ``Literal[...]`` annotation allows it; else :func:`bad_choice`."""
    allowed = typing.get_args(annotation)
    if value not in allowed:
        raise bad_choice(where, value, allowed)
    return value


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Checks and converts one value to its field's annotated type."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        annotation = next(a for a in options if a is not type(None))
        origin = typing.get_origin(annotation)
    if origin is list:
        if not isinstance(value, list | tuple):
            value = [value] if value not in ("", None) else []
        (item,) = typing.get_args(annotation)
        return [_coerce(v, item, where) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise SimNetError(f"config {where}: {value!r} is not a mapping (e.g. {{name: 0.5}})")
        key_type, value_type = typing.get_args(annotation)
        return {
            _coerce(k, key_type, where): _coerce(v, value_type, f"{where}.{k}")
            for k, v in value.items()
        }
    if (annotation is str or origin is Literal) and isinstance(value, bool):
        value = "on" if value else "off"  # YAML reads a bare on/off as a boolean
    if origin is Literal:
        return _check_choice(value, annotation, where)
    if annotation is str:
        return str(value)
    try:
        if annotation is bool:
            return _to_bool(value)
        if annotation in (int, float) and isinstance(value, bool):
            raise ValueError  # a number, not yes or no
        if annotation is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return annotation(value)
    except (TypeError, ValueError, OverflowError):
        shown = repr(value) if len(repr(value)) <= 60 else f"{repr(value)[:57]}..."
        raise SimNetError(f"config {where}: {shown} is not a valid {annotation.__name__}") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("true", "yes", "on", "1"):
            return True
        if value.lower() in ("false", "no", "off", "0"):
            return False
        raise ValueError
    if not isinstance(value, bool):
        raise ValueError
    return value


def _apply(section: Any, values: dict[str, Any], where: str) -> None:
    hints = typing.get_type_hints(type(section))
    names = {f.name for f in fields(section)}
    for key, value in values.items():
        if key not in names:
            known = ", ".join(sorted(names))
            raise SimNetError(f"config: unknown key {where}.{key} (known: {known})")
        setattr(section, key, _coerce(value, hints[key], f"{where}.{key}"))


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):  # a bad date, say: the words as given
        return text


PRESETS_DIR = Path(__file__).parent / "configs"


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


# A config file is a few hundred bytes; anything past this is not one.
MAX_CONFIG_BYTES = 1 << 20


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SimNetError(f"config file not found: {path}")
    if not path.is_file():  # a folder, a FIFO or a device: never opened
        raise SimNetError(f"config file {path} is not a regular file")
    with path.open("rb") as handle:
        raw = handle.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise SimNetError(f"config file {path} is over {MAX_CONFIG_BYTES >> 20} MB: not a config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SimNetError(
            f"config file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SimNetError(f"config file {path} is not valid YAML: {exc}".splitlines()[0]) from None
    except (ValueError, RecursionError) as exc:  # a date out of range; nesting past the stack
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SimNetError(f"config file {path} is not a valid config: {reason}") from None
    if not isinstance(data, dict):
        raise SimNetError(f"config file {path} must hold a mapping of sections")
    return data


def _apply_sections(config: Config, data: dict[str, Any]) -> None:
    """Sets ``{section: {key: value}}`` on ``config`` in place, each value typed and checked."""
    for name, values in data.items():
        section = _section(config, name)
        if not isinstance(values, dict):
            raise SimNetError(f"config section {name} must be a mapping")
        _apply(section, values, name)


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    preset: str | None = None,
) -> Config:
    """Builds a config: defaults (the fast preset), a named preset, a YAML file, then
    ``section.key=value`` overrides, each over the one before."""
    config = Config()
    if preset is not None:
        if preset not in list_presets():
            raise SimNetError(f"unknown preset {preset!r} (available: {', '.join(list_presets())})")
        _apply_sections(config, _read_yaml(PRESETS_DIR / f"{preset}.yaml"))
    if path is not None:
        _apply_sections(config, _read_yaml(Path(path)))
    for item in overrides or []:
        key, sep, text = item.partition("=")
        if not sep or "." not in key:
            raise SimNetError(f"override {item!r} must look like section.key=value")
        name, _, leaf = key.partition(".")
        _apply(_section(config, name), {leaf: _parse_scalar(text)}, name)
    validate(config)
    return config


def _section(config: Config, name: str) -> Any:
    if name not in {f.name for f in fields(config)}:
        known = ", ".join(f.name for f in fields(config))
        raise SimNetError(f"config: unknown section {name!r} (known: {known})")
    return getattr(config, name)


def _sections(config: Config) -> list[tuple[str, Any]]:
    return [(f.name, getattr(config, f.name)) for f in fields(config)]


def _numbers(value: Any) -> list[float]:
    """The numbers a setting holds (one, a list's, a mapping's values, or none)."""
    items = list(value.values()) if isinstance(value, dict) else value
    items = items if isinstance(items, list | tuple) else [items]
    return [v for v in items if isinstance(v, int | float) and not isinstance(v, bool)]


def validate(config: Config) -> None:
    """Raises :class:`SimNetError` for values no run could use: a value outside its
    ``Literal[...]`` annotation, a number that is not finite, a section's range rules,
    and settings that cannot go together."""
    for name, section in _sections(config):
        for key, hint in typing.get_type_hints(type(section)).items():
            value = getattr(section, key)
            if typing.get_origin(hint) is Literal:
                _check_choice(value, hint, f"{name}.{key}")
            bad = [v for v in _numbers(value) if not math.isfinite(v)]
            if bad:
                raise SimNetError(f"config: {name}.{key} must be a finite number, not {bad[0]}")
    for _, section in _sections(config):
        for ok, message in section.checks():
            if not ok:
                raise SimNetError(f"config: {message}")
    if config.train.patience > 0 and not config.data.val_fraction > 0:
        raise SimNetError(
            "config: train.patience (early stopping) needs a validation split: "
            "set data.val_fraction"
        )
    _check_sizes(config)
    _check_combinations(config)


def _check_sizes(config: Config) -> None:
    """Settings in pixels bounded by the image size (data.image_size)."""
    size, a = config.data.image_size, config.augment
    for ok, message in [
        (
            2 * config.eval.shift < size,
            f"eval.shift ({config.eval.shift}) must be below half of data.image_size ({size})",
        ),
        (
            2 * a.crop_padding <= size,
            f"augment.crop_padding ({a.crop_padding}) must be at most half of "
            f"data.image_size ({size})",
        ),
        (
            4 * a.blur <= size,
            f"augment.blur ({a.blur}) must be at most a quarter of data.image_size ({size})",
        ),
    ]:
        if not ok:
            raise SimNetError(f"config: {message}")


def _check_combinations(config: Config) -> None:
    """Settings that cannot train together, whatever the data."""
    t, views = config.train, config.model.views
    if config.loss.name == "cross-entropy" and views:
        raise SimNetError("loss.name=cross-entropy needs single images with class labels")
    if config.mining.strategy == "offline" and views:
        raise SimNetError("mining.strategy=offline needs single images with class labels")
    unknown = sorted(set(config.augment.turn_views or ()) - set(views))
    if unknown:
        raise SimNetError(
            f"augment.turn_views names {', '.join(unknown)}, not among model.views {views}"
        )
    unknown = sorted(set(config.loss.attribute_weights) - set(config.model.attributes))
    if unknown:
        raise SimNetError(
            f"loss.attribute_weights names {', '.join(unknown)}, not among model.attributes "
            f"{config.model.attributes}"
        )
    if t.shards >= 1 and t.batch_size % t.shards:
        raise SimNetError(
            f"train.batch_size ({t.batch_size}) must divide into {t.shards} equal "
            "slices (train.shards, or the number of processes)"
        )


def check_trainable(config: Config) -> None:
    """Raises :class:`SimNetError` when training cannot start from ``config`` alone: a
    multi-view model with no design library (``data.source``), or anything
    :func:`validate` refuses (a config built or changed in code is checked here too: a
    ``train.lr`` of NaN never trains).

    :func:`load_config` leaves the first to training, since a config for a multi-view
    model is also loaded without data (to build a model, or before ``--data`` is known).
    """
    if config.model.views and not config.data.source:
        raise SimNetError(
            "a multi-view model needs a design library: pass --data DIR "
            "(make one with simnet generate-packages --out DIR)"
        )
    validate(config)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Rebuilds a saved config (for example from a checkpoint)."""
    config = Config()
    for name, values in data.items():
        _apply(_section(config, name), values, name)
    return config


__all__ = [
    "Config",
    "bad_choice",
    "check_trainable",
    "config_from_dict",
    "list_presets",
    "load_config",
    "one_of",
    "validate",
]
