"""Where each model looks: confusion matrices of every method from its runs' score files, and Grad-CAM maps of each
method's deployable model (backbone + classifier) on the same few images, chosen by a fixed rule.

Everything is read from what the runs wrote: the score files of the reported split (``test_scores.npz``, or
``val_scores.npz`` without a test split; row ``i`` is image ``i`` of the split's list, in the loader's order), each
run's config (the split's list, pipeline and normalisation) and its final checkpoint. The maps are computed in this
process, one model per method, so ``--collect`` draws them for runs finished elsewhere.

- Confusion matrix of a method: rows the true class, columns the predicted one (top-1), each cell the mean over its
  seeds (at its chosen sweep variant) of the per-seed counts; the difference of each MixSKD method to CE is the cell
  by cell difference of those means.
- Images (:func:`choose_images`): each method's first seed predicts every image of the split. First the images on
  which these predictions are not all the same, in the list's order, up to half of the images asked for (rounded
  up); then, class by class in label order and round after round, the first image of each class not chosen yet,
  until the number asked for is reached or the split runs out.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence

import numpy as np

from mixskd_mm.evaluation.metrics.calibration import load_scores

from .analysis import SummaryRow
from .configs import LABELS, MIXSKD_METHODS
from .results import RunResult

#: the images drawn with Grad-CAM by default (``--cam-images``)
CAM_IMAGES = 6
RULE = ('the images on which the methods\' first seeds predict differently, in list order, up to half of them; then '
        'the first images of each class in label order, round after round')


def confusion(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, top-1 prediction), ``(C, C)`` int64: rows the true class.

    Example:
        >>> confusion(np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]), np.array([0, 1, 1]), 2).tolist()
        [[1, 0], [1, 1]]
    """
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(probs).argmax(axis=1)), 1)
    return matrix


def method_runs(results: Sequence[RunResult], table: Mapping[str, SummaryRow]) -> dict[str, list[RunResult]]:
    """Each method's runs at its chosen sweep variant, by seed (the runs its summary row names)."""
    return {m: sorted((r for r in results if r.run.name in row.runs), key=lambda r: r.key.seed)
            for m, row in table.items()}


def scores_of(result: RunResult, split: str) -> dict[str, np.ndarray]:
    """The run's score file of ``split``."""
    return load_scores(osp.join(result.run.work_dir, f'{split}_scores.npz'))


def confusions(runs: Mapping[str, Sequence[RunResult]], split: str, num_classes: int) -> dict[str, np.ndarray]:
    """Each method's confusion matrix: the mean over its seeds of the per-seed counts, ``(C, C)`` float."""
    out = {}
    for method, group in runs.items():
        per_seed = [confusion(s['probs'], s['labels'], num_classes) for s in (scores_of(r, split) for r in group)]
        out[method] = np.mean(per_seed, axis=0)
    return out


def largest_changes(ce: np.ndarray, other: np.ndarray, classes: Sequence[str], count: int = 3) -> list[dict]:
    """The off-diagonal cells (a true class predicted as another) that changed most from CE, largest first.

    Returns:
        Up to ``count`` dicts ``true``, ``predicted`` (class names), ``ce``, ``method`` (mean counts per seed) and
        ``change``; cells that did not change are left out.
    """
    diff = other - ce
    cells = [(abs(diff[t, p]), t, p) for t in range(len(classes)) for p in range(len(classes)) if t != p]
    cells = sorted((c for c in cells if c[0] > 1e-9), key=lambda c: (-c[0], c[1], c[2]))[:count]
    return [dict(true=classes[t], predicted=classes[p], ce=float(ce[t, p]), method=float(other[t, p]),
                 change=float(diff[t, p])) for _, t, p in cells]


def choose_images(predictions: Mapping[str, np.ndarray], labels: np.ndarray, count: int) -> list[tuple[int, str]]:
    """The images to draw, by the module's rule: ``(index, reason)`` with reason ``'disagree'`` or ``'class'``.

    Args:
        predictions: Each method's predicted class of every image (its first seed).
        labels: The true class of every image.
        count: How many images.

    Example:
        >>> choose_images(dict(a=np.array([0, 1, 1, 0]), b=np.array([0, 0, 1, 0])), np.array([0, 0, 1, 1]), 3)
        [(1, 'disagree'), (0, 'class'), (2, 'class')]
    """
    stacked = np.stack(list(predictions.values()))
    disagree = [int(i) for i in np.flatnonzero((stacked != stacked[0]).any(axis=0))]
    chosen = [(i, 'disagree') for i in disagree[:(count + 1) // 2]]
    taken = {i for i, _ in chosen}
    queues = [[int(i) for i in np.flatnonzero(labels == c) if int(i) not in taken] for c in np.unique(labels)]
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append((queue.pop(0), 'class'))
    return chosen


def where_they_look(results: Sequence[RunResult], table: Mapping[str, SummaryRow], classes: Sequence[str],
                    split: str, out: str, cam_images: int = CAM_IMAGES, img_size: int | None = None) -> dict:
    """Confusion matrices and Grad-CAM maps of every method, drawn into ``out``; returns ``results.json``'s ``looks``.

    Args:
        results: Every run's result.
        table: :func:`~mixskd_mm.compare.analysis.summarise` (which runs each method's numbers come from).
        classes: Class names.
        split: The reported split.
        out: The comparison's folder.
        cam_images: Images drawn with Grad-CAM (0: none).
        img_size: The crop side the runs trained at (the maps are of the deepest stage fine enough at it,
            :data:`~mixskd_mm.compare.looks_cam.MIN_CELLS`).

    Returns:
        ``split``, ``confusion`` (per method: ``matrix``, mean counts per seed, and ``runs``), ``difference`` and
        ``changes`` (per MixSKD method against CE), ``cam`` (:func:`~mixskd_mm.compare.looks_cam.draw_maps`, or
        ``None`` with ``cam_images=0``) and ``plots``.
    """
    from .looks_cam import draw_maps
    from .looks_plots import confusion_plot
    runs = method_runs(results, table)
    matrices = confusions(runs, split, len(classes))
    differences = {m: matrices[m] - matrices['ce'] for m in MIXSKD_METHODS if m in matrices and 'ce' in matrices}
    plots = [confusion_plot(matrices, differences, classes, split, out)]
    cam = None
    if cam_images > 0:
        first = {m: group[0] for m, group in runs.items()}
        predictions = {m: scores_of(r, split)['probs'].argmax(axis=1) for m, r in first.items()}
        labels = scores_of(next(iter(first.values())), split)['labels']
        cam = draw_maps(first, choose_images(predictions, labels, cam_images), predictions, labels, classes, split,
                        out, img_size)
        plots += cam['plots']
    return dict(split=split, confusion={m: dict(matrix=v.tolist(), runs=[r.run.name for r in runs[m]])
                                        for m, v in matrices.items()},
                difference={m: v.tolist() for m, v in differences.items()},
                changes={m: largest_changes(matrices['ce'], matrices[m], classes) for m in differences},
                cam=cam, plots=plots)


def looks_section(looks: dict) -> tuple[list[str], str]:
    """``(markdown lines, verdict sentence)`` of :func:`where_they_look`'s result."""
    lines = ['## Where each model looks', '',
             f'Confusion matrices on the {looks["split"]} split (`confusion.png`): rows the true class, columns the '
             f'prediction, each cell the mean count per seed; the last panels are each MixSKD method minus CE.']
    sentence = ''
    for method, changes in looks['changes'].items():
        if changes:
            lines += ['', f'Largest confusion changes, {LABELS[method]} vs CE (mean count per seed):', '',
                      '| true class | predicted as | CE | ' + LABELS[method] + ' | change |', '|---|---|---|---|---|']
            lines += [f'| {c["true"]} | {c["predicted"]} | {c["ce"]:.1f} | {c["method"]:.1f} | {c["change"]:+.1f} |'
                      for c in changes]
            if method == 'mixskd' or not sentence:
                top = changes[0]
                sentence = (f'The largest change in confusions of {LABELS[method]} against CE: {top["true"]} predicted '
                            f'as {top["predicted"]} {top["ce"]:.1f} -> {top["method"]:.1f} times per seed '
                            f'(confusion.png).')
    cam = looks['cam']
    if cam and cam.get('skipped'):
        lines += ['', cam['skipped'] + '.']
    elif cam:
        lines += ['', f'Grad-CAM of each method\'s deployable model (backbone and classifier; at `{cam["layer"]}`, '
                  f'the deepest stage whose map has at least 3 cells a side at this input size: the last stage when '
                  f'it has) on the same {len(cam["images"])} images, each method\'s first seed '
                  f'(`{cam["plots"][0]}`: one row per method, each map labelled with the method\'s prediction). '
                  f'Images chosen by a fixed rule: {RULE}. The methods\' first seeds disagree on '
                  f'{cam["disagreements"]} of the {cam["split_images"]} images.' + _coarse(cam['cells']), '',
                  '| image | true class | chosen because | ' + ' | '.join(LABELS[m] for m in cam['runs']) + ' |',
                  '|---|---|---|' + '---|' * len(cam['runs'])]
        for image in cam['images']:
            cells = [image['predictions'][m]['label'] for m in cam['runs']]
            where = '/'.join(image['path'].replace(osp.sep, '/').split('/')[-2:])
            lines.append(f'| {image["index"]}: `{where}` | {image["label"]} | '
                         f'{"the methods disagree" if image["reason"] == "disagree" else "class order"} | '
                         + ' | '.join(cells) + ' |')
    return lines, sentence


def _coarse(cells: Sequence[Sequence[int]]) -> str:
    """A warning when the last stage's map is too coarse to show where a model looks (fewer than 3 cells a side)."""
    small = [f'{r}x{c}' for r, c in cells if min(r, c) < 3]
    if not small:
        return ''
    return (f' Note: the last stage\'s map is only {", ".join(small)} cells at this input size, so the maps say little '
            f'about where the models look (a 1x1 map has no spatial information and is drawn blank); larger images '
            f'(--img-size) give finer maps.')
