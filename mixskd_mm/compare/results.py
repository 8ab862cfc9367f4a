"""The results of a comparison's pretraining runs as records, read from the runs' own files, and the sweep's choice.

Everything here is a plain function of what the runs wrote (score files, logs, ``cost.json``), so ``--collect`` on
work directories that a cluster filled gives the same results as a local run. The records become JSON only in
``results.json`` (their ``as_json``).
"""
from __future__ import annotations

import os.path as osp
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mixskd_mm.evaluation.metrics.calibration import expected_calibration_error, load_scores

from .configs import Pretraining
from .logs import read_cost, scalars, train_speed
from .study import PretrainRun, RunKey, Variant


def score_metrics(path: str, topk: int) -> dict:
    """Top-1, top-k, ECE and per-class accuracy (percent) of one score file.

    Args:
        path: A ``ClassificationScores`` file.
        topk: The k of top-k.

    Returns:
        ``top1``, ``topk``, ``ece``, ``per_class`` (one accuracy per class, ``None`` for a class without samples)
        and ``samples``.
    """
    scores = load_scores(path)
    probs, labels = scores['probs'], scores['labels']
    ranked = np.argsort(-probs, axis=1)[:, :topk]
    hit1 = ranked[:, 0] == labels
    hitk = (ranked == labels[:, None]).any(axis=1)
    per_class = [float(100 * hit1[labels == c].mean()) if (labels == c).any() else None
                 for c in range(probs.shape[1])]
    return dict(top1=float(100 * hit1.mean()), topk=float(100 * hitk.mean()),
                ece=expected_calibration_error(probs, labels), per_class=per_class, samples=int(len(labels)))


@dataclass(frozen=True)
class RunResult:
    """What the report needs from one finished pretraining run.

    Attributes:
        run: The run.
        val: :func:`score_metrics` of its validation scores.
        test: Those of its test scores (``None`` without a test split).
        cost: The wall seconds of ``tools/train.py`` and its peak memory as the comparison measured them (``None``
            for runs it did not run itself), the iteration time and images/s from the training log, ``log_seconds``
            (iterations x that iteration time) and ``train_seconds``: the wall time where measured, else
            ``log_seconds``.
    """

    run: PretrainRun
    val: dict
    test: dict | None
    cost: dict

    @property
    def key(self) -> RunKey:
        return self.run.key

    def on(self, split: str) -> dict:
        """The metrics on ``split`` (``'val'`` or ``'test'``)."""
        metrics = self.val if split == 'val' else self.test
        if metrics is None:
            raise ValueError(f'{self.run.name} has no {split} scores')
        return metrics

    def as_json(self) -> dict:
        """The run's entry of ``results.json`` (its sweep variant as ``setting``)."""
        run = self.run
        out = dict(method=run.method, seed=run.seed, setting=run.variant.as_dict(), name=run.name,
                   work_dir=run.work_dir, backbone=run.backbone, config=run.config,
                   commands=run.command_lines(), val=self.val)
        if self.test is not None:
            out['test'] = self.test
        return dict(out, cost=self.cost)


def run_result(run: PretrainRun, pretraining: Pretraining) -> RunResult:
    """Read one finished pretraining run back (:class:`RunResult`).

    Args:
        run: The run.
        pretraining: Its schedule (batch, top-k, iterations per epoch).
    """
    val = score_metrics(osp.join(run.work_dir, 'val_scores.npz'), pretraining.topk)
    test = score_metrics(osp.join(run.work_dir, 'test_scores.npz'), pretraining.topk) if run.has_test else None
    speed = train_speed(scalars(run.work_dir), pretraining.batch)
    measured = read_cost(run.work_dir)
    iterations = run.epochs * pretraining.iters_per_epoch
    estimate = speed['iter_seconds'] * iterations if speed['iter_seconds'] else None
    wall = measured.get('train_seconds')
    cost = dict(wall_seconds=wall, max_rss_mib=measured.get('max_rss_mib'), peak_gpu_mib=speed['peak_gpu_mib'],
                iter_seconds=speed['iter_seconds'], images_per_s=speed['images_per_s'], log_seconds=estimate,
                train_seconds=wall if wall is not None else estimate)
    return RunResult(run, val, test, cost)


def of_variant(results: Sequence[RunResult], method: str, variant: Variant) -> list[RunResult]:
    """The results of one method at one sweep variant, by seed."""
    return sorted((r for r in results if r.key.method == method and r.key.variant == variant),
                  key=lambda r: r.key.seed)


@dataclass(frozen=True)
class Candidate:
    """One sweep variant of a method: its mean validation top-1 over its seeds."""

    variant: Variant
    val_top1: float
    seeds: int

    def as_json(self) -> dict:
        return dict(setting=self.variant.as_dict(), val_top1=self.val_top1, seeds=self.seeds)


@dataclass(frozen=True)
class Choice:
    """A method's chosen sweep variant (the best mean validation top-1; the first one on a tie) and the others."""

    method: str
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate:
        return max(self.candidates, key=lambda c: c.val_top1)  # max keeps the first of equal values

    @property
    def variant(self) -> Variant:
        return self.best.variant

    def as_json(self) -> dict:
        """``results.json``'s ``chosen`` entry of the method."""
        return dict(setting=self.variant.as_dict(), val_top1=self.best.val_top1,
                    candidates=[c.as_json() for c in self.candidates])


def choose_variants(results: Sequence[RunResult]) -> dict[str, Choice]:
    """Per method, in the order of the runs, its :class:`Choice` of sweep variant.

    Args:
        results: :func:`run_result` of every run.
    """
    chosen = {}
    for method in dict.fromkeys(r.key.method for r in results):
        variants = dict.fromkeys(r.key.variant for r in results if r.key.method == method)
        chosen[method] = Choice(method, tuple(
            Candidate(v, statistics.mean(r.val['top1'] for r in group), len(group))
            for v, group in ((v, of_variant(results, method, v)) for v in variants)))
    return chosen
