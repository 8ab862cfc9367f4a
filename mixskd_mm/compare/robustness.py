"""The numbers of the evaluation under common corruptions, read from the runs' own files (:mod:`.corrupted`).

Per run: top-1 on each corrupted set, their mean (the *corruption accuracy*), top-1 on the same images uncorrupted
(from the run's own ``{split}_scores.npz``) and the *drop*, clean minus corruption accuracy. Per method, at its chosen
sweep variant: each as mean and sample standard deviation over seeds. Each MixSKD variant against CE and the best
cheap baseline: paired differences over seeds (:func:`~mixskd_mm.compare.analysis.paired_difference`) of the
corruption accuracy and of the drop. Every run's digests of what it read are checked against the manifest first.
"""
from __future__ import annotations

import hashlib
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from mixskd_mm.evaluation.metrics.calibration import load_scores
from mixskd_mm.evaluation.metrics.input_digests import load_digests

from .analysis import best_cheap_baseline, mean_std, paired_difference
from .configs import MIXSKD_METHODS
from .corrupted import CorruptionEval

if TYPE_CHECKING:
    from .analysis import SummaryRow


class InputsDiffer(RuntimeError):
    """A run's evaluation read other pixels than the corrupted files the manifest describes."""


def set_key(entry: Mapping) -> str:
    """``'CORRUPTION-SEVERITY'``: the name of one corrupted set (its folder, its key in ``results.json``)."""
    return f'{entry["corruption"]}-{entry["severity"]}'


def _top1(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(100 * (probs.argmax(axis=1) == labels).mean())


def read_evaluation(evaluation: CorruptionEval, split: str) -> dict:
    """One run's numbers under corruptions.

    Args:
        evaluation: The run's evaluation (done).
        split: The split that was corrupted (its clean scores are the run's ``{split}_scores.npz``).

    Returns:
        ``clean`` (top-1 on the corrupted images' originals), ``sets`` (``{CORRUPTION-SEVERITY: top-1}``), ``mean``
        (their mean) and ``drop`` (``clean - mean``), in percent.

    Raises:
        InputsDiffer: when what the run read is not, byte for byte, what the manifest describes.
    """
    e, data = evaluation, evaluation.data
    scores, digests = load_scores(e.scores), load_digests(e.digests)
    clean = load_scores(osp.join(e.run.work_dir, f'{split}_scores.npz'))
    index = np.asarray(data.indices, dtype=np.int64)
    sets = {}
    for entry in data.sets:
        part = slice(entry['start'], entry['stop'])
        if hashlib.sha256(digests[part].tobytes()).hexdigest() != entry['sha256'] or \
                not np.array_equal(scores['labels'][part], clean['labels'][index]):
            raise InputsDiffer(f'{e.run.name}: its evaluation under {set_key(entry)} read other images than those '
                               f'{data.folder}/manifest.json describes (their digests differ). Delete {e.scores} and '
                               f'{e.digests} and rerun to evaluate it again on the files as they are now.')
        sets[set_key(entry)] = _top1(scores['probs'][part], scores['labels'][part])
    clean_top1 = _top1(clean['probs'][index], clean['labels'][index])
    mean = float(np.mean(list(sets.values())))
    return dict(clean=clean_top1, sets=sets, mean=mean, drop=clean_top1 - mean)


def _pairs(per_seed: dict[str, dict[int, dict]], table: Mapping[str, SummaryRow]) -> list[dict]:
    """Paired differences of each MixSKD variant to CE and the best cheap baseline: corruption accuracy and drop."""
    out = []
    for method in (m for m in MIXSKD_METHODS if m in per_seed):
        for base in (b for b in dict.fromkeys(('ce', best_cheap_baseline(dict(table)))) if b in per_seed):
            seeds = sorted(set(per_seed[method]) & set(per_seed[base]))
            out.append(dict(method=method, baseline=base, seeds=seeds, **{
                key: paired_difference([per_seed[method][s][key] for s in seeds],
                                       [per_seed[base][s][key] for s in seeds]) for key in ('mean', 'drop')}))
    return out


def robustness_summary(evaluations: Sequence[CorruptionEval], table: Mapping[str, SummaryRow], split: str) -> dict:
    """What ``results.json``'s ``robustness`` holds: every run's numbers, each method's over seeds, the pairs.

    Args:
        evaluations: Every run's evaluation (done), all on the same corrupted data.
        table: :func:`~mixskd_mm.compare.analysis.summarise` (each method's chosen runs, and the validation top-1
            the best cheap baseline is chosen on).
        split: The split corrupted.

    Returns:
        ``split``, ``images``, ``folder``, ``sets`` (the manifest's), ``inputs_identical`` (checked), ``runs``
        (:func:`read_evaluation` by run name), ``per_method`` (``clean``, ``mean``, ``drop`` and ``sets``, each
        :func:`~mixskd_mm.compare.analysis.mean_std` over seeds) and ``comparisons``.
    """
    folders = {e.data.folder for e in evaluations}
    if len(folders) != 1:
        raise InputsDiffer(f'the runs were evaluated on different corrupted data: {sorted(folders)}')
    data = evaluations[0].data
    by_run = {e.run.name: read_evaluation(e, split) for e in evaluations}
    seeds = {e.run.name: e.run.seed for e in evaluations}
    per_seed = {m: {seeds[name]: by_run[name] for name in row.runs if name in by_run} for m, row in table.items()}
    per_method = {}
    for method, runs in per_seed.items():
        values = list(runs.values())
        per_method[method] = dict(**{key: mean_std([v[key] for v in values]) for key in ('clean', 'mean', 'drop')},
                                  sets={key: mean_std([v['sets'][key] for v in values]) for key in values[0]['sets']})
    return dict(split=split, images=len(data.indices), folder=data.folder, sets=data.sets, inputs_identical=True,
                runs=by_run, per_method=per_method, comparisons=_pairs(per_seed, table))
