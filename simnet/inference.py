"""A trained SimNet model, ready to embed images: ``SimNet.load(run).embed(...)``."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simnet.config import Config, config_from_dict
from simnet.data.augment import MEAN, STD, to_input
from simnet.data.images import decode_image
from simnet.errors import ImageError
from simnet.models import SimNetModel, build_model
from simnet.models.store import WEIGHTS_FILE, load_model_files
from simnet.runtime import autocast, use_bf16

log = logging.getLogger(__name__)


class SimNet:
    """An embedding model with the preprocessing it was trained with.

    Args:
        model: the network (put in eval mode here).
        config: the run's resolved config.
        model_id: a digest of the weights; indexes record it to refuse a different model.
    """

    def __init__(self, model: SimNetModel, config: Config, model_id: str = "untrained"):
        self.model = model.eval()
        self.config = config
        self.model_id = model_id
        self.bf16 = use_bf16(config.train.bf16)

    @classmethod
    def load(cls, path: str | Path) -> SimNet:
        """Loads a model from a run folder (or its ``model.safetensors``)."""
        path = Path(path)
        weights, meta = load_model_files(path)
        config = config_from_dict(meta["config"])
        model = build_model(config.model)
        model.load_state_dict(weights)
        if config.train.channels_last:
            model = model.to(memory_format=torch.channels_last)
        folder = path if path.is_dir() else path.parent
        digest = hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()[:16]
        return cls(model, config, digest)

    @property
    def dim(self) -> int:
        return self.model.embedding_dim

    @property
    def preprocessing(self) -> dict[str, Any]:
        """What an image goes through before the network; an index must match it."""
        return {
            "image_size": self.config.data.image_size,
            "mean": list(MEAN),
            "std": list(STD),
            "flip": self.config.eval.flip,
        }

    @torch.no_grad()
    def embed_array(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """``(N, S, S, 3)`` uint8 images -> ``(N, D)`` float32 unit-norm embeddings.

        With ``eval.flip`` the embeddings of each image and its mirror image are averaged.
        """
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.array(images[start : start + batch_size]))  # writable
            out[start : start + len(batch)] = self._embed_batch(batch).numpy()
        return out

    def _embed_batch(self, images: torch.Tensor) -> torch.Tensor:
        x = to_input(images)  # (B, 3, S, S), channels-last memory
        with autocast(self.bf16):
            e = self.model(x).float()
            if self.config.eval.flip:
                e = e + self.model(x.flip(3)).float()
        return torch.nn.functional.normalize(e, dim=1)  # (B, D)

    def embed_files(
        self, paths: Sequence[str | Path]
    ) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
        """Decodes and embeds image files.

        Returns:
            ``(embeddings, embedded paths, skipped (path, reason))``; unreadable files are
            skipped, not fatal.
        """
        size = self.config.data.image_size
        arrays, kept, skipped = [], [], []
        for p in paths:
            try:
                arrays.append(decode_image(p, size))
                kept.append(str(p))
            except ImageError as exc:
                skipped.append((str(p), str(exc)))
        if not arrays:
            return np.empty((0, self.dim), np.float32), kept, skipped
        return self.embed_array(np.stack(arrays)), kept, skipped

    def embed(self, images: np.ndarray | Sequence[str | Path]) -> np.ndarray:
        """Embeds a uint8 image array ``(N, S, S, 3)`` or a list of image files.

        Raises:
            ImageError: a file in the list is not a readable image.
        """
        if isinstance(images, np.ndarray):
            return self.embed_array(images)
        emb, _, skipped = self.embed_files(list(images))
        if skipped:
            raise ImageError(skipped[0][1])
        return emb
