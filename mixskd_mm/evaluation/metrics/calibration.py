"""Calibration of a classifier's scores (expected calibration error), and every sample's scores kept for reports."""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from mmengine.evaluator import BaseMetric

from mixskd_mm.registry import METRICS
from mixskd_mm.utils.atomic_io import atomic_write_bytes

from .multi_exit_accuracy import BACKBONE, _to_label


def reliability_bins(probs: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> dict[str, np.ndarray]:
    """Group predictions into equal-width confidence bins.

    Each sample's confidence is its top probability ``max_c p_c``; it is correct when that class is its label.

    Args:
        probs: ``(N, C)`` class probabilities.
        labels: ``(N,)`` class indices.
        num_bins: Bins of width ``1 / num_bins`` over ``(0, 1]``.

    Returns:
        ``count``, ``confidence`` (mean confidence per bin, 0 where empty) and ``accuracy`` (fraction correct per
        bin, 0 where empty), each of shape ``(num_bins,)``, and ``edges`` of shape ``(num_bins + 1,)``.

    Example:
        >>> b = reliability_bins(np.array([[0.9, 0.1], [0.3, 0.7]]), np.array([0, 0]), num_bins=2)
        >>> b['count'].tolist(), b['accuracy'].tolist()
        ([0, 2], [0.0, 0.5])
    """
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    index = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)  # bin k holds (k/B, (k+1)/B]
    count = np.bincount(index, minlength=num_bins)
    safe = np.maximum(count, 1)
    return dict(count=count, edges=edges,
                confidence=np.bincount(index, weights=confidence, minlength=num_bins) / safe,
                accuracy=np.bincount(index, weights=correct, minlength=num_bins) / safe)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, num_bins: int = 15) -> float:
    """ECE (Guo et al., ICML 2017): ``sum_k |B_k| / N * |acc(B_k) - conf(B_k)|`` over equal-width bins, in percent.

    Args:
        probs: ``(N, C)`` class probabilities.
        labels: ``(N,)`` class indices.
        num_bins: Number of confidence bins.

    Returns:
        The ECE in percent (0 is perfectly calibrated).

    Example:
        >>> round(expected_calibration_error(np.array([[0.9, 0.1], [0.3, 0.7]]), np.array([0, 0]), 2), 6)
        45.0
    """
    bins = reliability_bins(probs, labels, num_bins)
    gap = np.abs(bins['accuracy'] - bins['confidence'])
    return float(100.0 * (bins['count'] * gap).sum() / max(1, len(labels)))


@METRICS.register_module()
class ClassificationScores(BaseMetric):
    """ECE and negative log-likelihood of the backbone exit; optionally every sample's probabilities to a file.

    Logs ``calibration/ece`` (percent, see :func:`expected_calibration_error`) and ``calibration/nll``. With
    ``out_file`` it also writes ``probs`` (``float32 (N, C)``) and ``labels`` (``int64 (N,)``) of the backbone exit, in
    dataset order, as an ``.npz`` (plain arrays: read it with ``np.load(path, allow_pickle=False)``), atomically.
    ``tools/compare.py`` reads that file for its reliability diagrams and per-class accuracies.

    Args:
        num_bins: Confidence bins of the ECE.
        out_file: Where to write the scores (overwritten at every evaluation); ``None`` writes nothing.
        collect_device: Device results are gathered on in distributed evaluation.
        prefix: Key prefix; ``None`` uses ``'calibration'``.
        collect_dir: Folder for cpu collection in distributed evaluation.
    """

    default_prefix: str | None = 'calibration'

    def __init__(self, num_bins: int = 15, out_file: str | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None, collect_dir: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if num_bins < 1:
            raise ValueError(f'num_bins must be at least 1, got {num_bins}')
        self.num_bins = num_bins
        self.out_file = out_file

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep each sample's backbone probabilities and label.

        Args:
            data_batch: The batch from the data loader (unused).
            data_samples: The model's ``predict`` output: ``pred_scores`` (a tensor, or a dict with ``backbone``)
                and ``gt_label``.
        """
        for sample in data_samples:
            scores = sample['pred_scores']
            scores = scores[BACKBONE] if isinstance(scores, dict) else scores
            self.results.append(dict(probs=scores.detach().float().cpu().reshape(-1).numpy(),
                                     label=_to_label(sample['gt_label'])))

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        """Compute ECE and NLL, and write ``out_file`` when set.

        Args:
            results: What :meth:`process` stored, gathered from all ranks.

        Returns:
            ``{'ece': ..., 'nll': ...}``.
        """
        probs = np.stack([r['probs'] for r in results]).astype(np.float32)
        labels = np.array([r['label'] for r in results], dtype=np.int64)
        if self.out_file:
            buffer = io.BytesIO()
            np.savez(buffer, probs=probs, labels=labels)
            atomic_write_bytes(buffer.getvalue(), self.out_file)
        picked = probs[np.arange(len(labels)), labels].astype(np.float64)
        nll = float(-np.log(np.clip(picked, 1e-12, None)).mean())
        return dict(ece=expected_calibration_error(probs, labels, self.num_bins), nll=nll)


def load_scores(path: str) -> dict[str, np.ndarray]:
    """Read a file written by :class:`ClassificationScores` (no unpickling).

    Args:
        path: The ``.npz`` file.

    Returns:
        ``dict(probs=(N, C) float32, labels=(N,) int64)``.
    """
    with np.load(path, allow_pickle=False) as data:
        return dict(probs=data['probs'], labels=data['labels'])


__all__ = ['ClassificationScores', 'expected_calibration_error', 'load_scores', 'reliability_bins']
