"""Top-k accuracy of every exit of a multi-exit classifier (backbone, auxiliary exits, self-teacher)."""
import logging
from collections.abc import Sequence
from typing import Any, Optional, Union

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mixskd_mm.registry import METRICS

BACKBONE = 'backbone'


def _to_label(label: Union[int, torch.Tensor]) -> int:
    """Turn an int, a 0-dim or a one-element tensor into an int."""
    if isinstance(label, torch.Tensor):
        if label.numel() != 1:
            raise ValueError(f'gt_label must hold one class index, got shape {tuple(label.shape)}')
        return int(label.item())
    return int(label)


@METRICS.register_module()
class MultiExitAccuracy(BaseMetric):
    """Top-k accuracy (in percent) of the backbone exit and, under their own names, of every other exit.

    Each predicted sample is ``dict(pred_scores=dict(backbone=Tensor[num_classes], exit1=..., self_teacher=...),
    gt_label=int or 0-dim tensor)``; only ``backbone`` is required (a bare tensor counts as the backbone's scores).
    The backbone, the deployable classifier, reports ``top1``/``top5``; another exit ``NAME`` reports
    ``NAME_top1``/``NAME_top5``. With the default prefix the logs read ``accuracy/top1``, ``accuracy/exit1_top1``,
    ``accuracy/self_teacher_top1`` ...

    Only the top ``max(topk)`` class indices of each exit are kept per sample, so evaluation memory does not grow with
    the number of classes. A ``k`` above the number of classes is clamped to it (the key keeps its name, the value is
    then 100) and a warning says so once.

    Args:
        topk: The k values to report.
        report_max_exit: Also report ``max_exit_top1``: the best top-1 accuracy over all exits (backbone and
            self-teacher included), as the MixSKD release printed. It picks the best exit on the evaluation set itself,
            so it is optimistic; ``top1`` is always the backbone's.
        collect_device: Device results are gathered on in distributed evaluation (``'cpu'`` or ``'gpu'``).
        prefix: Key prefix; ``None`` uses ``default_prefix = 'accuracy'``.
        collect_dir: Folder for cpu collection in distributed evaluation.

    Example:
        >>> metric = MultiExitAccuracy(topk=(1,))
        >>> metric.process({}, [dict(pred_scores=dict(backbone=torch.tensor([0.1, 0.9]),
        ...                                           exit1=torch.tensor([0.8, 0.2])), gt_label=1)])
        >>> metric.compute_metrics(metric.results)
        {'top1': 100.0, 'exit1_top1': 0.0}
    """

    default_prefix: Optional[str] = 'accuracy'

    def __init__(self, topk: Union[int, Sequence[int]] = (1, 5), report_max_exit: bool = False,
                 collect_device: str = 'cpu', prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.topk = (topk,) if isinstance(topk, int) else tuple(topk)
        if not self.topk or min(self.topk) < 1:
            raise ValueError(f'topk must be positive integers, got {topk}')
        self.report_max_exit = report_max_exit
        self._warned_clamp = False

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep, per sample, the label and each exit's top ``max(topk)`` class indices (as python ints).

        Each exit's scores are stacked over the batch, so ``topk`` and the device-to-cpu copy run once per exit.

        Args:
            data_batch: The batch from the data loader (unused).
            data_samples: The model's ``predict`` output, one dict per sample.
        """
        all_scores = []
        for sample in data_samples:
            scores = sample['pred_scores']
            scores = {BACKBONE: scores} if isinstance(scores, torch.Tensor) else scores
            if BACKBONE not in scores:
                raise KeyError(f"pred_scores must contain '{BACKBONE}', got keys {sorted(scores)}")
            all_scores.append(scores)
        ranked: list[dict[str, list[int]]] = [{} for _ in all_scores]
        for name in dict.fromkeys(name for scores in all_scores for name in scores):
            rows = [i for i, scores in enumerate(all_scores) if name in scores]
            stacked = torch.stack([all_scores[i][name].detach().reshape(-1) for i in rows])
            top = stacked.topk(min(max(self.topk), stacked.shape[1]), dim=1).indices.cpu().tolist()
            self._warn_if_clamped(name, stacked.shape[1])
            for row, indices in zip(rows, top):
                ranked[row][name] = indices
        for sample, sample_ranked in zip(data_samples, ranked):
            self.results.append(dict(gt_label=_to_label(sample['gt_label']), ranked=sample_ranked))

    def _warn_if_clamped(self, name: str, num_classes: int) -> None:
        """Say once per metric that a k above the number of classes is clamped."""
        if max(self.topk) > num_classes and not self._warned_clamp:
            print_log(f"MultiExitAccuracy: topk={self.topk} exceeds the {num_classes} classes of '{name}'; larger k "
                      f'are clamped to {num_classes}', 'current', level=logging.WARNING)
            self._warned_clamp = True

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        """Compute top-k accuracies (percent) per exit.

        Args:
            results: What :meth:`process` stored, gathered from all ranks.

        Returns:
            ``{'top1': ..., 'top5': ..., 'exit1_top1': ..., ...}``, plus ``max_exit_top1`` when asked for. An exit
            absent from some samples is scored on the samples that have it.
        """
        all_k = sorted(set(self.topk) | {1})
        hits: dict[str, dict[int, int]] = {}
        counts: dict[str, int] = {}
        for result in results:
            label = result['gt_label']
            for name, ranked in result['ranked'].items():
                per_k = hits.setdefault(name, dict.fromkeys(all_k, 0))
                counts[name] = counts.get(name, 0) + 1
                for k in all_k:
                    per_k[k] += int(label in ranked[:k])
        metrics: dict[str, float] = {}
        for name in sorted(hits, key=lambda n: n != BACKBONE):  # backbone first, then in order of appearance
            key = '' if name == BACKBONE else f'{name}_'
            for k in self.topk:
                metrics[f'{key}top{k}'] = 100.0 * hits[name][k] / counts[name]
        if self.report_max_exit and hits:
            metrics['max_exit_top1'] = max(100.0 * hits[name][1] / counts[name] for name in hits)
        return metrics
