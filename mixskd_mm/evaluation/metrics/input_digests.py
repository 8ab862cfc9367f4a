"""A digest of every input image an evaluation read: the proof that two models were evaluated on the same pixels."""
from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mixskd_mm.registry import METRICS
from mixskd_mm.utils.atomic_io import atomic_write_bytes


def image_digest(image: torch.Tensor) -> int:
    """The first 8 bytes of the SHA-256 of an image's shape, dtype and pixel bytes, as an unsigned integer.

    Args:
        image: A tensor image (as the dataset yields it, before the data preprocessor).

    Returns:
        The digest (equal for two images exactly when their shape, dtype and bytes are equal, up to a 2**-64 chance).
    """
    pixels = image.detach().cpu().contiguous()
    head = f'{tuple(pixels.shape)}{pixels.dtype}'.encode()
    return int.from_bytes(hashlib.sha256(head + pixels.numpy().tobytes()).digest()[:8], 'big')


@METRICS.register_module()
class InputDigests(BaseMetric):
    """Write the :func:`image_digest` of every input image, in dataset order, to an ``.npz`` (``digests``: uint64).

    ``tools/compare.py`` adds it to each run's evaluation under corruptions, and checks that every run read the
    same images (its report says so). Logs ``inputs/images``, their number.

    Args:
        out_file: Where to write the digests (atomically, overwritten at every evaluation).
        collect_device: Device results are gathered on in distributed evaluation.
        prefix: Key prefix; ``None`` uses ``'inputs'``.
    """

    default_prefix: str | None = 'inputs'

    def __init__(self, out_file: str, collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_file = out_file

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep the digest of each input image of the batch.

        Args:
            data_batch: The batch from the data loader: ``inputs``, a list of image tensors or one stacked tensor.
            data_samples: The model's outputs (unused).
        """
        self.results += [image_digest(image) for image in data_batch['inputs']]

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Write the digests; returns ``{'images': N}``."""
        buffer = io.BytesIO()
        np.savez(buffer, digests=np.array(results, dtype=np.uint64))
        atomic_write_bytes(buffer.getvalue(), self.out_file)
        return dict(images=float(len(results)))


def load_digests(path: str) -> np.ndarray:
    """The ``digests`` (uint64) of a file :class:`InputDigests` wrote (no unpickling)."""
    with np.load(path, allow_pickle=False) as data:
        return data['digests']


__all__ = ['InputDigests', 'image_digest', 'load_digests']
