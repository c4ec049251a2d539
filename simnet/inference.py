"""A trained SimNet model, ready to embed images: ``SimNet.load(run).embed(...)``."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from simnet.calibration import read_calibration
from simnet.config import Config, config_from_dict, validate
from simnet.data.augment import MEAN, STD, to_input
from simnet.data.designs import decode_design
from simnet.data.images import decode_image, prepare_image, skip_reason
from simnet.engines import choose_engine
from simnet.errors import ImageError, SimNetError
from simnet.models import SimNetModel, build_model
from simnet.models.simnet import model_from_object
from simnet.models.store import META_FILE, WEIGHTS_FILE, check_weights, load_model_files
from simnet.runtime import autocast, use_bf16
from simnet.storage import hash_file

log = logging.getLogger(__name__)

# Test-time views of up to this many images go through the network as one batch: a lone
# query's four views embed in 6.6 ms instead of 12.4; past it, separate passes are faster.
ONE_PASS_IMAGES = 256
# A batch holds at most this many pixels (64 images of 224 px), whatever eval.batch_size
# says: 1000 designs' views of 224 px through EfficientNet-Lite0 ran a 24 GB machine out
# of memory, where 32 px ones take 1000 at a time as before.
BATCH_PIXELS = 64 * 224 * 224


def _config_of(path: Path, data: dict[str, Any]) -> Config:
    """A run's config from its ``model.json``, checked as a config file is (types, ranges,
    settings that go together); a refusal names ``path``."""
    try:
        config = config_from_dict(data)
        validate(config)
    except SimNetError as exc:
        raise SimNetError(f"{path}: {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise SimNetError(f"{path}: field 'config' is not a run's config ({exc})") from None
    return config


class SimNet:
    """An embedding model with the preprocessing it was trained with.

    Args:
        model: the network (put in eval mode here).
        config: the run's resolved config.
        model_id: a digest of the weights; indexes record it to refuse a different model.
        engine: what runs the network (:mod:`simnet.engines`): ``auto`` (ONNX Runtime where
            it is installed and agrees with PyTorch, else PyTorch), ``torch`` or ``onnx``.
    """

    def __init__(
        self,
        model: SimNetModel,
        config: Config,
        model_id: str = "untrained",
        engine: str = "auto",
    ):
        self.model = model.eval()
        self.config = config
        self.model_id = model_id
        self.bf16 = use_bf16(config.train.bf16)
        self.engine = engine  # resolved to "torch" or "onnx" by the first embedding
        self._network: Any = None  # ONNX Runtime's run of embed_images, once resolved
        self._engine_lock = threading.Lock()
        self.calibration: dict[str, Any] = {}  # what its similarities mean (design models)
        # A pretrained backbone used with no training: how to build it again (an index
        # records this instead of a run folder).
        self.backbone: dict[str, Any] | None = None

    @classmethod
    def load(
        cls, path: str | Path, engine: str = "auto", model: torch.nn.Module | None = None
    ) -> SimNet:
        """Loads a model from a run folder (or its ``model.safetensors``); ``engine``: what
        runs it (see the class). A run trained from a model object (``train(...,
        model=...)``) needs ``model``: a new module of the same architecture, whose weights
        are replaced by the run's."""
        path = Path(path)
        weights, meta = load_model_files(path)
        folder = path if path.is_dir() else path.parent
        config = _config_of(folder / META_FILE, meta["config"])
        if model is None:
            try:
                network = build_model(config.model, load_weights=False)  # the file holds all
            except SimNetError as exc:
                raise SimNetError(f"{folder / META_FILE}: {exc}") from None
            except (ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise SimNetError(
                    f"{folder / META_FILE}: field 'config.model' describes no model ({first})"
                ) from None
            check_weights(folder / WEIGHTS_FILE, weights, network.state_dict())
        else:
            network = model_from_object(model, config.model, config.data.image_size)
        try:
            network.load_state_dict(weights)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            if model is None:
                raise SimNetError(f"cannot load the weights in {path}: {first}") from None
            raise SimNetError(
                f"the model object does not fit the weights in {path}: {first}"
            ) from None
        model = network
        if config.train.channels_last:
            model = model.to(memory_format=torch.channels_last)
        digest = hash_file(folder / WEIGHTS_FILE, None, "a weights file")[1][:16]
        net = cls(model, config, digest, engine)
        net.calibration = read_calibration(folder)
        return net

    @classmethod
    def from_backbone(
        cls,
        name: str,
        pretrained: bool = False,
        weights: str | Path | None = None,
        image_size: int | None = None,
        engine: str = "auto",
    ) -> SimNet:
        """A pretrained backbone as an embedding model, with no training: its pooled features,
        L2-normalised, are the embedding. Images are padded square with their border's colour
        (aspect kept) and scaled to ``image_size`` (default: the resolution the weights were
        trained at).

        Raises:
            SimNetError: an unknown backbone, no weights named, or weights that cannot be had.
        """
        if not pretrained and weights is None:
            raise SimNetError(
                f"--backbone {name} needs --pretrained or --weights FILE: "
                "an untrained network's features mean nothing"
            )
        if weights is not None:
            weights = str(Path(weights).expanduser().resolve())
        config = config_from_dict(
            {
                "model": {
                    "backbone": name,
                    "pretrained": pretrained and weights is None,
                    "weights": weights,
                    "embedding_dim": 0,
                    "scales": [],
                    "whiten": False,
                },
                "eval": {"flip": False, "shift": 0},
                "data": {"keep_aspect": True},
            }
        )
        model = build_model(config.model)
        if config.train.channels_last:  # as a trained model is loaded
            model = model.to(memory_format=torch.channels_last)
        size = image_size or getattr(model.backbone, "input_size", None) or 224
        if size < 8:
            raise SimNetError("--image-size must be at least 8")
        config.data.image_size = int(size)
        digest = hashlib.sha256()
        for key, tensor in sorted(model.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().contiguous().numpy().tobytes())
        net = cls(model, config, digest.hexdigest()[:16], engine)
        net.backbone = {
            "name": name,
            "pretrained": config.model.pretrained,
            "weights": weights,
            "image_size": config.data.image_size,
        }
        return net

    @property
    def dim(self) -> int:
        return self.model.embedding_dim

    @property
    def preprocessing(self) -> dict[str, Any]:
        """What an image goes through before the network; an index must match it."""
        extra = {"input_size": self.config.model.input_size} if self.config.model.input_size else {}
        return {
            **extra,
            "image_size": self.config.data.image_size,
            "mean": list(MEAN),
            "std": list(STD),
            "flip": self.config.eval.flip,
            "shift": self.config.eval.shift,
            "views": list(self.config.model.views),
            **({"trim": True} if self.config.data.trim else {}),
            **({"max_aspect": self.config.data.max_aspect} if self.config.data.max_aspect else {}),
            **({"keep_aspect": True} if self.config.data.keep_aspect else {}),
            "view_fusion": self.config.model.view_fusion,
        }

    @property
    def views(self) -> tuple[str, ...]:
        """The views of a design this model takes (empty for a single-image model)."""
        return tuple(self.config.model.views)

    @torch.no_grad()
    def embed_array(
        self, images: np.ndarray, batch_size: int = 1000, progress: bool = False
    ) -> np.ndarray:
        """``(N, S, S, 3)`` uint8 images (or ``(N, V, S, S, 3)`` designs) -> ``(N, D)``
        float32 unit-norm embeddings.

        Test-time augmentation: with ``eval.flip`` each image's embedding is averaged with
        its mirror image's, and with ``eval.shift`` with those of the image moved by that
        many pixels up-left and down-right. ``progress`` shows a progress bar.
        """
        return self._embed_all(images, batch_size, per_view=False, progress=progress)

    @torch.no_grad()
    def embed_views(
        self, designs: np.ndarray, batch_size: int = 1000, progress: bool = False
    ) -> np.ndarray:
        """``(N, V, S, S, 3)`` uint8 designs -> ``(N, V, view_dim)`` per-view embeddings;
        ``progress`` shows a progress bar."""
        if designs.ndim != 5:
            raise ValueError("embed_views takes designs: (N, V, S, S, 3)")
        return self._embed_all(designs, batch_size, per_view=True, progress=progress)

    def _batch_items(self, images: np.ndarray, batch_size: int) -> int:
        """Images (or designs) a batch takes: ``batch_size`` views, and at most
        :data:`BATCH_PIXELS` pixels."""
        views = max(1, len(self.views))
        per_item = views * images.shape[-2] * images.shape[-3]
        return max(1, min(batch_size // views, BATCH_PIXELS // per_item))

    def _embed_all(
        self, images: np.ndarray, batch_size: int, per_view: bool, progress: bool = False
    ) -> np.ndarray:
        step = self._batch_items(images, batch_size)
        out = []
        bar = tqdm(total=len(images), unit="img", desc="embedding", disable=not progress)
        for start in range(0, len(images), step):
            batch = torch.from_numpy(np.array(images[start : start + step]))  # writable
            out.append(self._embed_batch(batch, per_view).numpy())
            bar.update(len(batch))
        bar.close()
        if not out:
            shape = (0, len(self.views), self.model.view_dim) if per_view else (0, self.dim)
            return np.empty(shape, np.float32)
        return np.concatenate(out)

    def _embed_batch(self, images: torch.Tensor, per_view: bool = False) -> torch.Tensor:
        x = to_input(images)  # (B, 3, S, S) or (B, V, 3, S, S)
        if x.dim() == 4:
            return self._embed_images(x)  # (B, D)
        # sizes from the model, not the batch, so that an exported graph takes any batch
        views = self._embed_images(x.flatten(0, 1)).view(-1, len(self.views), self.model.view_dim)
        return views if per_view else self.model.fuse(views)

    def _embed_images(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` -> ``(B, view_dim)``, averaged over the test-time views."""
        variants = [x]
        if self.config.eval.flip:
            variants.append(x.flip(3))
        shift = self.config.eval.shift
        if shift > 0:
            size = x.shape[-1]
            padded = F.pad(x, (shift, shift, shift, shift), mode="reflect")
            variants.append(padded[..., :size, :size])
            variants.append(padded[..., 2 * shift :, 2 * shift :])
        network = self._resolve_engine(x)
        with autocast(self.bf16 and self.engine == "torch"):
            # (torch.export: the graph that takes any batch, not a guard on its size)
            one_pass = not torch.compiler.is_exporting()
            if one_pass and x.shape[0] * len(variants) <= ONE_PASS_IMAGES:  # one call, not four
                e = network(torch.cat(variants)).float()
                e = e.view(len(variants), -1, e.shape[-1]).sum(0)
            else:  # large batches run faster one view at a time
                e = torch.stack([network(v).float() for v in variants]).sum(0)
        return F.normalize(e, dim=1)

    def _resolve_engine(self, probe: torch.Tensor) -> Any:
        """What runs ``embed_images``: ONNX Runtime's session, or the model itself; the
        engine is settled on the first batch (its first images are the agreement probe)."""
        with self._engine_lock:
            if self.engine not in ("torch", "onnx") or (
                self.engine == "onnx" and self._network is None
            ):
                key = None if self.model_id == "untrained" else self.model_id
                self.engine, self._network = choose_engine(
                    self.engine, self.model, probe.shape[-1], key, probe[:4].float(), self.bf16
                )
            if self._network is not None and probe.shape[-1] == self._network.image_size:
                return self._network
        return self.model.embed_images  # PyTorch, or images of another size than exported

    @torch.no_grad()
    def describe(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """``(N, S, S, 3)`` images (or ``(N, V, S, S, 3)`` designs) -> unit-norm
        multi-scale descriptors for near-duplicate search (no test-time views: a mirror
        image is not a duplicate). See :meth:`SimNetModel.describe_images`."""
        out = []
        step = self._batch_items(images, batch_size)
        for start in range(0, len(images), step):
            x = to_input(torch.from_numpy(np.array(images[start : start + step])))
            flat = x.flatten(0, 1) if x.dim() == 5 else x
            with autocast(self.bf16):
                d = self.model.describe_images(flat).float()
            if x.dim() == 5:  # a design: its views' descriptors side by side
                d = F.normalize(d.view(x.shape[0], -1), dim=1)
            out.append(d.numpy())
        return np.concatenate(out) if out else np.empty((0, 0), np.float32)

    def embed_files(
        self, paths: Sequence[str | Path]
    ) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
        """Decodes and embeds image files (design folders, for a multi-view model).

        Returns:
            ``(embeddings, embedded paths, skipped (path, reason))``; unreadable files are
            skipped, not fatal.
        """
        arrays, kept, skipped = [], [], []
        for p in paths:
            try:
                arrays.append(self.decode(p))
                kept.append(str(p))
            except ImageError as exc:
                skipped.append((str(p), skip_reason(p, exc)))
        if not arrays:
            return np.empty((0, self.dim), np.float32), kept, skipped
        return self.embed_array(np.stack(arrays)), kept, skipped

    def _from_tensor(self, images: torch.Tensor) -> np.ndarray | list[Image.Image]:
        """A tensor of images as an array (uint8, the array layout) or as PIL images (float
        ``(N, 3, H, W)`` in ``[0, 1]``, to be scaled as files are)."""
        images = images.detach().cpu()
        if images.dtype == torch.uint8 and images.dim() in (4, 5) and images.shape[-1] == 3:
            return images.numpy()
        if images.is_floating_point() and images.dim() == 4 and images.shape[1] == 3:
            pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
            return [Image.fromarray(p) for p in pixels.numpy()]
        raise SimNetError(
            "a tensor of images is uint8 (N, S, S, 3) or float (N, 3, H, W) in [0, 1], "
            f"not {images.dtype} {tuple(images.shape)}"
        )

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """The design attributes this model predicts (empty: none)."""
        return tuple(self.config.model.attributes)

    @torch.no_grad()
    def predict_attributes(self, embeddings: np.ndarray) -> list[dict[str, tuple[str, float]]]:
        """``(N, D)`` embeddings (from :meth:`embed_array`) -> per design, attribute ->
        (most likely value, its probability)."""
        from simnet.packages.attributes import ATTRIBUTES

        if not self.attribute_names or not len(embeddings):
            return [{} for _ in embeddings]
        logits = self.model.attribute_logits(torch.from_numpy(np.asarray(embeddings)).float())
        out: list[dict[str, tuple[str, float]]] = [{} for _ in embeddings]
        for name, scores in logits.items():
            p, i = scores.softmax(1).max(1)
            for row, (pi, ii) in enumerate(zip(p.tolist(), i.tolist(), strict=True)):
                out[row][name] = (ATTRIBUTES[name][ii], round(pi, 4))
        return out

    def decode(self, path: str | Path) -> np.ndarray:
        """One image file as ``(S, S, 3)`` uint8, or one design folder as ``(V, S, S, 3)``.

        Raises:
            ImageError: not a readable image, or not a design folder with every view.
        """
        size = self.config.data.image_size
        if self.views:
            data = self.config.data
            return decode_design(path, size, self.views, data.trim, data.max_aspect)
        if Path(path).is_dir():
            raise ImageError(f"{path} is a folder; this model embeds image files")
        return decode_image(path, size, keep_aspect=self.config.data.keep_aspect)

    def embed(
        self,
        images: np.ndarray | torch.Tensor | Image.Image | Sequence[str | Path | Image.Image],
    ) -> np.ndarray:
        """Embeds images given as any of:

        - a uint8 array or tensor ``(N, S, S, 3)`` (designs: ``(N, V, S, S, 3)``), as
          :meth:`decode` makes them;
        - a float tensor ``(N, 3, H, W)`` of pixels in ``[0, 1]`` (torchvision's
          ``to_tensor``), scaled as a file is;
        - PIL images, one or a list;
        - a list of image files (designs: design folders), PIL images among them if you like.

        Raises:
            ImageError: a file in the list is not a readable image.
            SimNetError: a tensor of another layout, or PIL images for a design model.
        """
        if isinstance(images, torch.Tensor):
            images = self._from_tensor(images)
        if isinstance(images, np.ndarray):
            return self.embed_array(images)
        items = [images] if isinstance(images, Image.Image) else list(images)
        files = [item for item in items if not isinstance(item, Image.Image)]
        if len(files) < len(items):
            if self.views:
                raise SimNetError("a design model embeds design folders, not PIL images")
            size, keep = self.config.data.image_size, self.config.data.keep_aspect
            arrays = [
                prepare_image(x, size, keep) if isinstance(x, Image.Image) else self.decode(x)
                for x in items
            ]
            return self.embed_array(np.stack(arrays))
        emb, _, skipped = self.embed_files(files)
        if skipped:
            raise ImageError(": ".join(skipped[0]))
        return emb


def open_model(
    model: str | Path | None = None,
    backbone: str | None = None,
    pretrained: bool = False,
    weights: str | Path | None = None,
    image_size: int | None = None,
    recorded: dict[str, Any] | None = None,
    engine: str = "auto",
) -> SimNet:
    """The model a command names: a run folder (``model``), a pretrained backbone used with
    no training (``backbone`` with ``pretrained`` or ``weights``), or else the one an index
    recorded (``recorded``: its ``model`` entry); ``engine`` runs it (see :class:`SimNet`).

    Raises:
        SimNetError: both or neither named, or backbone options without a backbone.
    """
    if model and backbone:
        raise SimNetError("name one model: --model RUN or --backbone NAME")
    if backbone:
        return SimNet.from_backbone(backbone, pretrained, weights, image_size, engine)
    if pretrained or weights is not None or image_size is not None:
        raise SimNetError("--pretrained, --weights and --image-size go with --backbone NAME")
    if model:
        return SimNet.load(model, engine)
    recorded = recorded or {}
    if recorded.get("backbone"):
        b = recorded["backbone"]
        return SimNet.from_backbone(
            b["name"], b["pretrained"], b["weights"], b["image_size"], engine
        )
    if recorded.get("path"):
        return SimNet.load(recorded["path"], engine)
    if recorded:
        raise SimNetError("the index does not name its model: pass --model RUN")
    raise SimNetError("name a model: --model RUN, or --backbone NAME --pretrained (no training)")
