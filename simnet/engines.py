"""What runs the network when a trained model embeds: PyTorch, or ONNX Runtime.

ONNX Runtime runs the same network, exported once, in fp32, faster than PyTorch's fp32 on a
CPU: EfficientNet-Lite0 at 224 px embeds 129 images/s on 2 cores of a Xeon against
PyTorch's 51 (channels-last fp32) and 98 (bf16, whose results move too far from fp32's);
``benchmarks/pretrained_throughput.py`` and ``benchmarks/engines.py`` measure them side by
side. Engines:

- ``torch``: PyTorch, in bf16 where the model's ``train.bf16`` setting and the CPU allow.
- ``onnx``: ONNX Runtime (``pip install onnx onnxruntime``; both are dependencies), fp32.
- ``auto``: PyTorch in bf16 where it runs so and its first batch agrees with its fp32
  result (cosine >= :data:`AGREEMENT`; on a CPU with AMX that is the fastest path for the
  small networks trained from scratch); else ONNX Runtime where it is installed, the
  network has at most :data:`AUTO_MAX_PARAMETERS` parameters and its first batch agrees
  with PyTorch's fp32 result; else PyTorch, with the reason logged. The
  environment variable ``SIMNET_ENGINE=torch`` makes ``auto`` keep to PyTorch.

Exported networks are kept in the cache folder (``$SIMNET_CACHE/onnx``), one file per model
and image size, so a later command starts at once.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simnet.errors import SimNetError

if TYPE_CHECKING:  # torch is imported where it is used: the CLI reads ENGINES without it
    import torch

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx")
AGREEMENT = 0.999  # least cosine to PyTorch's fp32 embedding for ONNX Runtime to be used
# auto keeps larger networks in PyTorch: VGG16's 138M parameters would cost a 528 MB
# export in the cache for each trained model (EfficientNet-Lite0: 4.7M, ResNet-50: 26M).
AUTO_MAX_PARAMETERS = 50_000_000
ONNX_OPSET = 17


def onnxruntime_installed() -> bool:
    """True when ONNX Runtime and ``onnx`` (which PyTorch's exporter writes with) import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(model: Any, image_size: int) -> bytes:
    """``model.embed_images`` as an ONNX graph for ``(B, 3, S, S)`` float input (any B)."""
    import torch

    class EmbedImages(torch.nn.Module):
        def __init__(self, model: Any):
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model.embed_images(x)

    return _traced_graph(EmbedImages(model), torch.zeros(2, 3, image_size, image_size))


def _traced_graph(module: Any, example: torch.Tensor) -> bytes:
    """``module`` traced on ``example`` as ONNX bytes: ``images`` in, ``embeddings`` out,
    any batch size."""
    import torch

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on tracing: not ours to act on
        torch.onnx.export(
            module.eval(),
            (example,),
            f"{folder}/network.onnx",
            input_names=["images"],
            output_names=["embeddings"],
            dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        return Path(folder, "network.onnx").read_bytes()


EXPORT_FORMATS = (".onnx", ".pt2")


def _whole_embedding(net: Any) -> Any:
    """``net``'s embedding of uint8 images as one module (what the exports hold)."""
    import torch

    class WholeEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = net.model  # registered, so the weights go into the graph

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return net._embed_batch(images)

    return WholeEmbedding()


def export_embedding(net: Any, path: str | Path) -> dict[str, Any]:
    """Writes ``net``'s whole embedding (atomically) as an ONNX file (``.onnx``) or a
    ``torch.export`` program (``.pt2``, for ``torch.export.load``), with a ``.json`` beside
    it: uint8 images ``(B, S, S, 3)`` (designs: ``(B, V, S, S, 3)``), as
    :meth:`~simnet.inference.SimNet.decode` makes them, in; the unit-norm embeddings that
    ``simnet embed`` writes out, test-time views and view fusion included; any batch size.

    Returns:
        What the ``.json`` says: input, output, and the decoding before the graph.
    """
    import json

    import torch

    from simnet.storage import atomic_write_bytes, atomic_write_text

    path = Path(path)
    kind = path.suffix.lower()
    if kind not in EXPORT_FORMATS:
        raise SimNetError(f"export writes FILE.onnx or FILE.pt2 (torch.export), not {path.name}")

    size = net.config.data.image_size
    views = list(net.views)
    shape = [2, len(views), size, size, 3] if views else [2, size, size, 3]
    example = torch.zeros(shape, dtype=torch.uint8)
    engine, bf16 = net.engine, net.bf16
    net.engine, net.bf16 = "torch", False  # the graph is PyTorch's fp32 network
    try:
        if kind == ".onnx":
            atomic_write_bytes(path, _traced_graph(_whole_embedding(net), example))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.export.export(
                    _whole_embedding(net).eval(),
                    (example,),
                    dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
                )
            buffer = io.BytesIO()  # written whole from Python: a failure is an OSError
            torch.export.save(program, buffer)
            atomic_write_bytes(path, buffer.getvalue())
    finally:
        net.engine, net.bf16 = engine, bf16
    about = {
        "model_id": net.model_id,
        "format": "onnx" if kind == ".onnx" else "torch.export",
        "input": {"name": "images", "dtype": "uint8", "shape": ["batch", *shape[1:]]},
        "output": {"name": "embeddings", "dtype": "float32", "shape": ["batch", net.dim]},
        "decode": {  # what simnet does to a file before the graph (SimNet.decode)
            "image_size": size,
            "keep_aspect": net.config.data.keep_aspect,  # padded square with its border's colour
            "trim": net.config.data.trim,  # a design's views: margins trimmed first
            "max_aspect": net.config.data.max_aspect,  # ... then stretched to this (None: kept)
        },
        "views": views,
    }
    if kind == ".onnx":
        about["opset"] = ONNX_OPSET
    atomic_write_text(path.with_suffix(".json"), json.dumps(about, indent=2) + "\n")
    return about


class OnnxNetwork:
    """``model.embed_images`` run by ONNX Runtime, on the CPU, with torch's thread count.

    Args:
        model: the network (left as it is).
        image_size: the side of the square images it takes.
        key: names the exported file in the cache (the model's id); None: not cached.
        cache_dir: where exported networks are kept (default: ``$SIMNET_CACHE/onnx``).
    """

    def __init__(
        self,
        model: Any,
        image_size: int,
        key: str | None = None,
        cache_dir: str | Path | None = None,
    ):
        import onnxruntime as ort
        import torch

        graph = self._graph(model, image_size, key, cache_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        # no busy-waiting between runs: on a few cores it takes the CPU from PyTorch's work
        # (descriptors, search) in the same process
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.image_size = image_size
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    @staticmethod
    def _graph(model: Any, image_size: int, key: str | None, cache_dir: str | Path | None) -> bytes:
        from simnet.data.cache import default_cache_dir
        from simnet.storage import atomic_write_bytes

        if key is None:
            return export_onnx(model, image_size)
        folder = Path(cache_dir) if cache_dir else default_cache_dir() / "onnx"
        path = folder / f"{key}-{image_size}-opset{ONNX_OPSET}.onnx"
        try:
            return path.read_bytes()
        except OSError:
            pass
        graph = export_onnx(model, image_size)
        try:
            atomic_write_bytes(path, graph)
        except SimNetError as exc:  # a read-only cache costs an export per run, nothing more
            log.debug("could not keep the exported network in %s: %s", folder, exc)
        return graph

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        (out,) = self.session.run(None, {"images": x.float().contiguous().numpy()})
        return torch.from_numpy(out)


def choose_engine(
    engine: str,
    model: Any,
    image_size: int,
    key: str | None,
    probe: torch.Tensor,
    bf16: bool = False,
) -> tuple[str, Callable[[torch.Tensor], torch.Tensor] | None]:
    """Resolves an engine name for a model.

    Args:
        engine: ``auto``, ``torch`` or ``onnx``.
        probe: a ``(B, 3, S, S)`` batch on which the engine must agree with PyTorch fp32.
        bf16: PyTorch would run in bf16 (the CPU has bf16 units and the model allows it).
            ``auto`` keeps to it where it agrees with fp32 on the probe: on a CPU with AMX
            the small networks trained here run about twice as fast as in ONNX
            Runtime's fp32 (``benchmarks/engines.py``); EfficientNet-Lite0 does not agree
            (0.998), and runs faster in ONNX Runtime.

    Returns:
        ``(name, network)``: ``network`` runs ``embed_images`` (None: PyTorch's own).

    Raises:
        SimNetError: ``onnx`` asked for where ONNX Runtime is missing or cannot run the model.
    """
    import torch

    if engine not in ENGINES:
        raise SimNetError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "torch" or (engine == "auto" and os.environ.get("SIMNET_ENGINE") == "torch"):
        return "torch", None
    with torch.no_grad():
        want = _unit(model.embed_images(probe))
    if engine == "auto" and _pytorch_will_do(model, probe, want, bf16):
        return "torch", None
    if not onnxruntime_installed():
        if engine == "onnx":
            raise SimNetError("--engine onnx needs ONNX Runtime: pip install onnx onnxruntime")
        return "torch", None
    try:
        network = OnnxNetwork(model, image_size, key)
        got = _unit(network(probe))
    except Exception as exc:  # an operator the exporter or runtime lacks
        if engine == "onnx":
            raise SimNetError(f"ONNX Runtime cannot run this model: {exc}") from exc
        log.info("embedding with PyTorch: ONNX Runtime cannot run this model (%s)", exc)
        return "torch", None
    if (agreement := _agreement(got, want)) < AGREEMENT:
        if engine == "onnx":
            raise SimNetError(
                f"ONNX Runtime's embeddings differ from PyTorch's (cosine {agreement:.4f})"
            )
        log.warning("embedding with PyTorch: ONNX Runtime's result differs (%.4f)", agreement)
        return "torch", None
    return "onnx", network


def _pytorch_will_do(model: Any, probe: torch.Tensor, want: torch.Tensor, bf16: bool) -> bool:
    """``auto``'s reasons to stay with PyTorch: a network too large to export, or bf16 that
    agrees with fp32 on the probe."""
    import torch

    if (size := sum(p.numel() for p in model.parameters())) > AUTO_MAX_PARAMETERS:
        log.info("embedding with PyTorch: %dM parameters (--engine onnx to export)", size >> 20)
        return True
    if not bf16:
        return False
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = _unit(model.embed_images(probe))
    return _agreement(low, want) >= AGREEMENT


def _unit(x: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    return F.normalize(x.float(), dim=1)


def _agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """The least cosine between matching rows of two unit-norm batches."""
    return float((a * b).sum(1).min())
