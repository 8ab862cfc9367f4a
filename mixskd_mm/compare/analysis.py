"""The numbers of a comparison, from the runs' results (:mod:`.results`): accuracy, calibration, cost, paired
differences.

Everything here is a plain function of what the runs wrote (score files, logs, ``cost.json``), so ``--collect`` on
work directories that a cluster filled gives the same report as a local run.

Statistics: a method's accuracy is the mean over seeds with the sample standard deviation. A difference between
two methods is paired by seed (both trained with the same seed, data and schedule): the mean of the per-seed
differences with a two-sided 95 % Student-t interval, ``mean +- t(0.975, n - 1) * sd / sqrt(n)``. It is called
significant when the interval excludes zero; with one seed there is no interval and no claim.
"""
from __future__ import annotations

import math
import os.path as osp
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mixskd_mm.evaluation.metrics.calibration import load_scores, reliability_bins

from .configs import CHEAP_BASELINES, LABELS, MIXSKD_METHODS
from .results import Choice, RunResult, of_variant
from .study import Variant

if TYPE_CHECKING:
    from .transfer.runs import TransferResult

COST_KEYS = ('train_seconds', 'wall_seconds', 'log_seconds', 'images_per_s', 'max_rss_mib', 'peak_gpu_mib')


def t_quantile(df: int, p: float = 0.975) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (scipy's, which scikit-image brings)."""
    from scipy.stats import t
    return float(t.ppf(p, df))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict:
    """Mean and 95 % interval of the per-seed differences ``a - b``.

    Args:
        a: One value per seed.
        b: The other method's values, same seeds in the same order.

    Returns:
        ``mean``, ``std``, ``n``, ``half_width``, ``low``, ``high`` (``None`` without an interval, ``n < 2``) and
        ``significant`` (the interval excludes 0; ``False`` with one seed).

    Example:
        >>> d = paired_difference([80.0, 81.0, 82.0], [79.0, 79.5, 80.5])
        >>> round(d['mean'], 3), d['significant']
        (1.333, True)
    """
    if len(a) != len(b) or not a:
        raise ValueError(f'paired values need the same seeds on both sides, got {len(a)} and {len(b)}')
    diffs = [x - y for x, y in zip(a, b)]
    n, mean = len(diffs), statistics.mean(diffs)
    if n < 2:
        return dict(mean=mean, std=None, n=n, half_width=None, low=None, high=None, significant=False)
    std = statistics.stdev(diffs)
    half = t_quantile(n - 1) * std / math.sqrt(n)
    return dict(mean=mean, std=std, n=n, half_width=half, low=mean - half, high=mean + half,
                significant=bool(mean - half > 0 or mean + half < 0))


def mean_std(values: Sequence[float | None]) -> dict:
    """``mean``, sample ``std`` (0 with one value) and ``n`` of the values that are not ``None``."""
    given = [v for v in values if v is not None]
    if not given:
        return dict(mean=None, std=None, n=0)
    return dict(mean=statistics.mean(given), std=statistics.stdev(given) if len(given) > 1 else 0.0,
                n=len(given))


def _ratio(value: float | None, reference: float | None) -> float | None:
    return value / reference if value is not None and reference else None


@dataclass(frozen=True)
class SummaryRow:
    """One method at its chosen sweep variant, over its seeds: accuracy, calibration and cost.

    Attributes:
        method: The method.
        variant: Its chosen sweep variant.
        seeds: The seeds of its runs, in order.
        runs: The runs' names.
        per_class: The mean accuracy of each class (``None`` for a class without samples).
        top1: :func:`mean_std` of top-1 on the reported split.
        topk: That of top-k.
        ece: That of the ECE.
        val_top1: That of the validation top-1 (what the best cheap baseline is chosen on).
        cost: :func:`mean_std` of each of :data:`COST_KEYS`.
        vs_ce: Each cost's mean as a ratio to CE's (``None`` without CE).
    """

    method: str
    variant: Variant
    seeds: tuple[int, ...]
    runs: tuple[str, ...]
    per_class: tuple[float | None, ...]
    top1: dict
    topk: dict
    ece: dict
    val_top1: dict
    cost: dict[str, dict]
    vs_ce: dict[str, float | None]

    @property
    def label(self) -> str:
        return LABELS[self.method]

    def as_json(self) -> dict:
        """The method's entry of ``results.json``'s ``summary``."""
        return dict(label=self.label, setting=self.variant.as_dict(), seeds=list(self.seeds), runs=list(self.runs),
                    per_class=list(self.per_class), top1=self.top1, topk=self.topk, ece=self.ece,
                    val_top1=self.val_top1, **self.cost, **{f'{key}_vs_ce': v for key, v in self.vs_ce.items()})


def summarise(results: Sequence[RunResult], chosen: dict[str, Choice], split: str) -> dict[str, SummaryRow]:
    """Per method (at its chosen variant): accuracy, calibration and cost over seeds, cost also as a ratio to CE.

    Args:
        results: :func:`~mixskd_mm.compare.results.run_result` of every run.
        chosen: :func:`~mixskd_mm.compare.results.choose_variants`.
        split: ``'test'`` or ``'val'``: where accuracy is reported.

    Returns:
        ``{method: SummaryRow}``.
    """
    table = {}
    for method, choice in chosen.items():
        runs = of_variant(results, method, choice.variant)
        per_class = tuple(mean_std([r.on(split)['per_class'][c] for r in runs])['mean']
                          for c in range(len(runs[0].on(split)['per_class'])))
        top1, topk, ece = (mean_std([r.on(split)[key] for r in runs]) for key in ('top1', 'topk', 'ece'))
        table[method] = SummaryRow(method, choice.variant, tuple(r.key.seed for r in runs),
                                   tuple(r.run.name for r in runs), per_class, top1, topk, ece,
                                   mean_std([r.val['top1'] for r in runs]),
                                   {key: mean_std([r.cost[key] for r in runs]) for key in COST_KEYS}, {})
    ce = table.get('ce')
    return {method: replace(row, vs_ce={key: _ratio(row.cost[key]['mean'], ce.cost[key]['mean']) if ce else None
                                        for key in COST_KEYS}) for method, row in table.items()}


def best_cheap_baseline(table: dict[str, SummaryRow]) -> str | None:
    """Of Mixup and CutMix, the one with the better mean *validation* top-1 (so the choice never sees test data)."""
    present = [m for m in CHEAP_BASELINES if m in table]
    return max(present, key=lambda m: table[m].val_top1['mean']) if present else None


def per_seed(results: Sequence[RunResult], method: str, variant: Variant, split: str,
             key: str = 'top1') -> dict[int, float]:
    """``{seed: value}`` of one method at one sweep variant."""
    return {r.key.seed: r.on(split)[key] for r in of_variant(results, method, variant)}


def comparisons(results: Sequence[RunResult], chosen: dict[str, Choice], table: dict[str, SummaryRow],
                split: str) -> list[dict]:
    """Paired differences of each MixSKD variant to CE and to the best cheap baseline, and to each of them trained
    at equal compute where compared (``ce-matched``, ...), on top-1 and ECE.

    Args:
        results: :func:`run_result` of every run.
        chosen: :func:`choose_variants`.
        table: :func:`summarise`.
        split: Where accuracy is reported.

    Returns:
        One dict per pair: ``method``, ``baseline``, ``top1`` and ``ece`` (:func:`paired_difference`), ``seeds``,
        and ``time_ratio`` (training time of the method over the baseline's).
    """
    cheap = best_cheap_baseline(table)
    baselines = [b for b in ('ce', 'ce-matched', cheap, f'{cheap}-matched') if b in table]
    out = []
    for method in (m for m in MIXSKD_METHODS if m in table):
        for base in baselines:
            pair: dict[str, Any] = dict(method=method, baseline=base)
            for key in ('top1', 'ece'):
                a = per_seed(results, method, chosen[method].variant, split, key)
                b = per_seed(results, base, chosen[base].variant, split, key)
                seeds = sorted(set(a) & set(b))
                pair[key] = paired_difference([a[s] for s in seeds], [b[s] for s in seeds])
                pair['seeds'] = seeds
            pair['time_ratio'] = _ratio(table[method].cost['train_seconds']['mean'],
                                        table[base].cost['train_seconds']['mean'])
            out.append(pair)
    return out


def transfer_summary(transfers: Sequence[TransferResult], table: dict[str, SummaryRow]) -> dict[str, dict]:
    """Per task: each backbone's metric over seeds, and paired differences of MixSKD variants to the baselines.

    Args:
        transfers: Every fine-tune's result.
        table: :func:`summarise` (for the best cheap baseline).

    Returns:
        ``{task: dict(metric=..., per_method={method: mean_std}, comparisons=[...])}``.
    """
    out = {}
    for task in dict.fromkeys(t.fine_tune.task.name for t in transfers):
        rows = [t for t in transfers if t.fine_tune.task.name == task]
        methods = list(dict.fromkeys(t.fine_tune.backbone.method for t in rows))
        values = {m: {t.fine_tune.backbone.seed: t.value for t in rows if t.fine_tune.backbone.method == m}
                  for m in methods}
        pairs = []
        for method in (m for m in MIXSKD_METHODS if m in values):
            for base in (b for b in ('ce', best_cheap_baseline(table)) if b in values):
                seeds = sorted(set(values[method]) & set(values[base]))
                pairs.append(dict(method=method, baseline=base, seeds=seeds,
                                  value=paired_difference([values[method][s] for s in seeds],
                                                          [values[base][s] for s in seeds])))
        per_method = {m: mean_std(list(values[m].values())) for m in methods}
        out[task] = dict(metric=rows[0].fine_tune.metric_label, per_method=per_method, comparisons=pairs)
    return out


def pooled_reliability(results: Sequence[RunResult], table: dict[str, SummaryRow], split: str,
                       num_bins: int = 15) -> dict[str, dict]:
    """Reliability bins per method, over the samples of all its seeds (for the diagram)."""
    out = {}
    for method, row in table.items():
        probs, labels = [], []
        for r in results:
            if r.run.name in row.runs:
                s = load_scores(osp.join(r.run.work_dir, f'{split}_scores.npz'))
                probs.append(s['probs'])
                labels.append(s['labels'])
        bins = reliability_bins(np.concatenate(probs), np.concatenate(labels), num_bins)
        out[method] = {k: v.tolist() for k, v in bins.items()}
    return out
