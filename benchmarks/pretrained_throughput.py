"""How fast the pretrained EfficientNet-Lite0 embeds photos on this CPU, by execution path,
and how long one photo takes to search 100,000 indexed vectors.

Paths, measured side by side in one run on the same preprocessed batches (batches of 32 at
224 px, the network simnet embeds with: pooled features, L2-normalised): eager fp32,
channels-last fp32, channels-last bf16 autocast (where the CPU has bf16 units), TorchScript
(traced and frozen), torch.compile, ONNX Runtime fp32 (simnet's engine for this network),
and OpenVINO fp32 and bf16 where it is installed. Each path's embeddings must keep cosine
>= 0.999 to eager fp32's, or it is reported as wrong. Paths take turns within each round
(the best round kept), so machine noise hits them alike. Decoding (JPEG to 224x224 array)
is measured separately, on the shipped photos.

Then the query: one photo decoded, embedded (``SimNet.embed``, engine auto) and searched
among 100,000 vectors, by exact search and by an HNSW graph (what ``--kind auto`` builds
for 1280-D vectors past 10,000), p50 and p90 over ``--queries`` runs, with the graph's
recall@10 against exact search on 200 held-out vectors. ``--vectors`` gives real features
to search among (random unit vectors otherwise, the hardest case for a graph).

    python benchmarks/pretrained_throughput.py [--rounds 3] [--seconds 5] [--no-compile] \
        [--vectors FEATURES.npy]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from simnet.data.images import decode_image
from simnet.index import Index
from simnet.inference import SimNet
from simnet.runtime import autocast, cpu_has_bf16, cpu_name, set_threads

PHOTOS = Path(__file__).resolve().parents[1] / "examples" / "photos"
BATCH, SIZE = 32, 224


def rate(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, seconds: float) -> float:
    """Images per second of ``run`` on ``x``, over about ``seconds``."""
    done, start = 0, time.perf_counter()
    while True:
        run(x)
        done += len(x)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def paths(model: torch.nn.Module, x: torch.Tensor, compile_: bool) -> dict[str, Callable]:
    """The execution paths, each a function of a ``(B, 3, S, S)`` batch."""
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)  # model stays as it is

    def eager(batch: torch.Tensor) -> torch.Tensor:
        return model(batch.contiguous())

    def channels_last(batch: torch.Tensor) -> torch.Tensor:
        return cl(batch.contiguous(memory_format=torch.channels_last))

    found: dict[str, Callable] = {"eager fp32": eager, "channels-last fp32": channels_last}
    if cpu_has_bf16():

        def bf16(batch: torch.Tensor) -> torch.Tensor:
            with autocast(True):
                return cl(batch.contiguous(memory_format=torch.channels_last)).float()

        found["channels-last bf16"] = bf16
    traced = torch.jit.freeze(torch.jit.trace(cl, x.contiguous(memory_format=torch.channels_last)))
    found["torchscript frozen fp32"] = lambda b: traced(
        b.contiguous(memory_format=torch.channels_last)
    )
    if compile_:
        compiled = torch.compile(cl)
        found["torch.compile fp32"] = lambda b: compiled(
            b.contiguous(memory_format=torch.channels_last)
        )
    found.update(_onnx_paths(model, x))
    return found


def _onnx_paths(model: torch.nn.Module, x: torch.Tensor) -> dict[str, Callable]:
    """ONNX Runtime and OpenVINO on the same network, where they are installed."""
    found: dict[str, Callable] = {}
    threads = torch.get_num_threads()
    try:
        import onnxruntime as ort
    except ImportError:
        print("ONNX Runtime: not installed (pip install onnxruntime)")
    else:
        path = Path(tempfile.mkdtemp()) / "lite0.onnx"
        torch.onnx.export(
            model,
            (x,),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}},
            dynamo=False,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as simnet
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        found["onnxruntime fp32"] = lambda b: torch.from_numpy(
            session.run(None, {"x": b.numpy()})[0]
        )
    try:
        import openvino as ov
    except ImportError:
        print("OpenVINO: not installed (pip install openvino)")
    else:
        core = ov.Core()
        network = ov.convert_model(model, example_input=x)
        for precision in ("f32", "bf16") if cpu_has_bf16() else ("f32",):
            compiled = core.compile_model(
                network,
                "CPU",
                {
                    "INFERENCE_PRECISION_HINT": precision,
                    "INFERENCE_NUM_THREADS": threads,
                    "PERFORMANCE_HINT": "THROUGHPUT",
                },
            )
            found[f"openvino {precision}"] = lambda b, c=compiled: torch.from_numpy(c(b.numpy())[0])
    return found


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument(
        "--vectors",
        type=Path,
        help="(N, 1280) .npy of real features to search among, N >= 100,200 (default: random "
        "unit vectors, the hardest case for a graph index)",
    )
    args = parser.parse_args()
    set_threads(None)
    print(f"CPU: {cpu_name()}; {torch.get_num_threads()} threads; bf16 units: {cpu_has_bf16()}")
    net = SimNet.from_backbone("efficientnet_lite0", pretrained=True, image_size=SIZE)
    model = net.model.eval()

    def embed(batch: torch.Tensor) -> torch.Tensor:
        return model.embed_images(batch)

    x = torch.randn(BATCH, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    want = F.normalize(embed(x).float(), dim=1)
    runs = paths(_Embedder(model).eval(), x, not args.no_compile)
    agreement = {}
    for name, run in runs.items():  # warm-up (compiles), and correctness
        got = F.normalize(run(x).float(), dim=1)
        agreement[name] = float((got * want).sum(1).min())
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, run in runs.items():
            best[name] = max(best.get(name, 0.0), rate(run, x, args.seconds))
    print(f"{'path (batch 32, 224 px)':<28} {'img/s':>7} {'min cosine to eager fp32':>26}")
    for name in runs:
        ok = "" if agreement[name] >= 0.999 else "  (too far: not a correct path)"
        print(f"{name:<28} {best[name]:7.1f} {agreement[name]:26.5f}{ok}")

    photos = sorted(PHOTOS.glob("*.jpg"))
    start = time.perf_counter()
    for _ in range(5):
        for p in photos:
            decode_image(p, SIZE, keep_aspect=True)
    per = (time.perf_counter() - start) / (5 * len(photos))
    print(f"decoding a photo to {SIZE}x{SIZE} (aspect kept): {per * 1000:.1f} ms ({1 / per:.0f}/s)")

    queries = [photos[i % len(photos)] for i in range(args.queries)]
    vectors, held_out = index_vectors(args.vectors, net.dim)
    exact = None
    for kind in ("exact", "hnsw"):
        start = time.perf_counter()
        index = Index(
            vectors, [f"v{i}" for i in range(len(vectors))], [""] * len(vectors), {}, kind=kind
        )
        built = time.perf_counter() - start
        total, search = [], []
        for query_file in queries:
            t0 = time.perf_counter()
            query = net.embed([query_file])  # decoded, embedded (engine: auto), searched
            t1 = time.perf_counter()
            index.search(query, 10)
            t2 = time.perf_counter()
            total.append(t2 - t0)
            search.append(t2 - t1)
        found = [{m.path for m in ms} for ms in index.search(held_out, 10)]
        exact = exact or found
        recall = np.mean([len(a & b) / 10 for a, b in zip(found, exact, strict=True)])
        print(
            f"one photo against {len(vectors):,} vectors, {kind} search (built in {built:.0f} s; "
            f"recall@10 {recall:.3f}): decode+embed+search p50 {ms(total, 5):.1f} ms, "
            f"p90 {ms(total, 9):.1f} ms; the search alone p50 {ms(search, 5):.1f} ms"
        )


def ms(values: list[float], q: int) -> float:
    """The ``q``-th decile of ``values`` (5: the median) in milliseconds."""
    if q == 5:
        return statistics.median(values) * 1000
    return statistics.quantiles(values, n=10)[q - 1] * 1000


def index_vectors(path: Path | None, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """100,000 unit vectors to search among and 200 held-out queries for recall: rows of
    ``path`` (real features) or random ones."""
    if path is None:
        rng = np.random.default_rng(0)
        rows = rng.standard_normal((100_200, dim)).astype(np.float32)
    else:
        rows = np.load(path).astype(np.float32)
        rows = rows[np.random.default_rng(0).permutation(len(rows))[:100_200]]
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows[:-200], rows[-200:]


class _Embedder(torch.nn.Module):
    """The model's image embedding as a module (what the paths run)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed_images(x)


if __name__ == "__main__":
    main()
