"""Which engine embeds faster, per model: PyTorch (as ``SimNet`` runs it: bf16 autocast where
the CPU has bf16 units, else fp32), PyTorch fp32, and ONNX Runtime fp32, side by side in one
run, rounds taking turns; then which one ``--engine auto`` picks.

Models (untrained weights: speed does not depend on them): the fast preset at 32 px (the
CIFAR-10 default) and the packages preset (three views at 32 px). EfficientNet-Lite0 at
224 px is measured by ``pretrained_throughput.py``, path by path. Embeddings of random
images through ``SimNet.embed_array`` (test-time views included, as search and index run
them); each engine's result must keep cosine >= 0.999 to PyTorch fp32's.

    python benchmarks/engines.py [--rounds 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch

from simnet.config import load_config
from simnet.inference import SimNet
from simnet.models import build_model
from simnet.runtime import cpu_has_bf16, cpu_name, set_threads

ENGINES = ("torch", "torch", "onnx")  # as configured, fp32 (bf16 turned off), ONNX Runtime


def rate(net: SimNet, images: np.ndarray, seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        net.embed_array(images)
        done += len(images)
    return done / (time.perf_counter() - start)


def models() -> dict[str, tuple[SimNet, SimNet, SimNet, np.ndarray]]:
    """name -> (PyTorch as configured, PyTorch fp32, ONNX Runtime, images)."""
    rng = np.random.default_rng(0)
    found = {}
    for name, preset, count in (
        ("fast, 32 px", None, 1000),
        ("packages, 3x32 px", "packages", 300),
    ):
        config = load_config(preset=preset)
        model = build_model(config.model, load_weights=False)
        model = model.to(memory_format=torch.channels_last)  # as SimNet.load has it
        nets = [SimNet(copy.deepcopy(model), config, "untrained", e) for e in ENGINES]  # no cache
        size = config.data.image_size
        views = (len(config.model.views),) if config.model.views else ()
        found[name] = (*nets, rng.integers(0, 256, (count, *views, size, size, 3), np.uint8))
    for _, fp32, _, _ in found.values():
        fp32.bf16 = False
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    set_threads(None)
    print(f"CPU: {cpu_name()}; bf16 units: {cpu_has_bf16()}")
    print(f"{'model':<28} {'engine':<26} {'img/s':>8} {'min cosine to fp32':>19}")
    for name, (configured, fp32, onnx, images) in models().items():
        want = fp32.embed_array(images[:64])
        runs = {
            f"torch ({'bf16' if configured.bf16 else 'fp32'}, as configured)": configured,
            "torch fp32": fp32,
            "onnx fp32": onnx,
        }
        agreement = {
            k: float((net.embed_array(images[:64]) * want).sum(1).min()) for k, net in runs.items()
        }
        best = dict.fromkeys(runs, 0.0)
        for _ in range(args.rounds):
            for key, net in runs.items():
                best[key] = max(best[key], rate(net, images, args.seconds))
        for key in runs:
            print(f"{name:<28} {key:<26} {best[key]:8.1f} {agreement[key]:19.5f}")
        auto = SimNet(configured.model, configured.config, "untrained", "auto")
        auto.bf16 = configured.bf16
        auto.embed_array(images[:64])
        print(f"{name:<28} --engine auto picks {auto.engine}")


if __name__ == "__main__":
    main()
