"""What tools/demo.py writes once its runs are done: the results read from the runs' logs, ``report.md``,
``results.json`` and the PNG plots (training losses, result bars, predictions on held-out scenes).

Plain functions over the dicts the demo's steps return; tools/demo.py imports them (it is not a package, so it puts
this folder on ``sys.path`` when it is loaded from elsewhere).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import statistics
from typing import TYPE_CHECKING, Dict, List, Sequence

if TYPE_CHECKING:
    import numpy as np

METHODS = ('CE', 'MixSKD')  # the compared pretraining methods, in the order of every table and plot
SUBSET_SEED = 0  # seed of the balanced pretraining subset; the transfer scenes take only images outside it


# -- reading results ------------------------------------------------------------------------------------------
def scalars(work_dir: str) -> List[Dict]:
    """Read the records a run logged (mmengine's LocalVisBackend).

    Args:
        work_dir: The run's work directory.

    Returns:
        Every record of the newest ``<work_dir>/*/vis_data/scalars.json``.

    Raises:
        RuntimeError: if the run logged no ``scalars.json``.
    """
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not logs:
        raise RuntimeError(f'no scalars.json in {work_dir}')
    with open(logs[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def last_value(records: Sequence[Dict], key: str) -> float:
    """Find the last logged value of a key.

    Args:
        records: The records of :func:`scalars`.
        key: The logged name, e.g. ``'accuracy/top1'``.

    Returns:
        The value of the last record that holds ``key``.

    Raises:
        RuntimeError: if no record holds ``key``.
    """
    values = [r[key] for r in records if key in r]
    if not values:
        raise RuntimeError(f'{key!r} was never logged')
    return float(values[-1])


def curve(records: Sequence[Dict], key: str = 'loss') -> Dict[str, List[float]]:
    """Collect a training curve.

    Args:
        records: The records of :func:`scalars`.
        key: The logged name to follow.

    Returns:
        ``{'step': [...], 'value': [...]}`` of the training records that log ``key``.
    """
    rows = [r for r in records if key in r and 'step' in r]
    return dict(step=[r['step'] for r in rows], value=[float(r[key]) for r in rows])


# -- the report -----------------------------------------------------------------------------------------------
def summarise(runs: Sequence[Dict], transfers: Sequence[Dict]) -> Dict[str, Dict]:
    """Summarise the runs per method.

    Args:
        runs: The pretraining runs (``method``, ``top1``, ``train_seconds``, ...).
        transfers: The fine-tunes (``task``, ``method``, ``value``, ``seconds``, ...).

    Returns:
        Per method: top-1 mean and sample std over seeds, box mAP, mIoU and summed wall times.
    """
    table = {}
    for method in METHODS:
        accs = [r['top1'] for r in runs if r['method'] == method]
        row = dict(top1_mean=statistics.mean(accs), top1_std=statistics.stdev(accs) if len(accs) > 1 else 0.0,
                   top1_runs=accs, seeds=len(accs),
                   pretrain_seconds=round(sum(r['train_seconds'] for r in runs if r['method'] == method), 1))
        for t in transfers:
            if t['method'] == method:
                key = 'box_mAP' if t['task'] == 'detection' else 'mIoU'
                row[key], row[f'{t["task"]}_seconds'] = t['value'], t['seconds']
        table[method] = row
    return table


def report_text(table: Dict, runs: Sequence[Dict], transfers: Sequence[Dict], data: Dict, timings: Dict,
                args: argparse.Namespace) -> str:
    """Write the text of ``report.md``.

    Args:
        table: The summary of :func:`summarise`.
        runs: The pretraining runs.
        transfers: The fine-tunes.
        data: The composed transfer data and the pretraining dataset (``dataset``, ``counts``, ``classes``, ...).
        timings: Wall seconds per step.
        args: The demo's command line (after its defaults are filled in).

    Returns:
        The data, the results table, per-run numbers and the wall time of every step, as markdown.
    """
    ce, mix = table['CE'], table['MixSKD']
    seeds = ', '.join(str(s) for s in args.seeds)
    lines = [
        '# mixskd_mm demo: cross-entropy vs MixSKD, pretraining and transfer', '',
        f'Data: **{data["dataset"]["name"]}**. Pretraining on {args.per_class} training images per class '
        f'({args.per_class * args.num_classes} images, a balanced subset, subset seed {SUBSET_SEED}), top-1 on the '
        f'held-out test '
        f'split ({data["dataset"]["test_images"]} images). Backbone: timm `test_resnet`, {args.epochs} epochs, '
        f'seeds {seeds}. '
        f'Transfer: {data["counts"]["train"]["images"]} / {data["counts"]["val"]["images"]} composed '
        f'{data["image_size"]}x{data["image_size"]} scenes (train / val) with '
        f'{data["counts"]["train"]["objects"]} / {data["counts"]["val"]["objects"]} objects of '
        f'{len(data["classes"])} classes ({", ".join(data["classes"])}), taken from training images outside the '
        f'pretraining subset and pasted on scikit-image photos; fine-tuned from the seed-{args.seeds[0]} backbones '
        f'({args.det_iters} / {args.seg_iters} iterations).', '',
        '| backbone pretraining | top-1 (%) mean ± std | box mAP (%) | mIoU (%) | pretraining time (s) |',
        '|---|---|---|---|---|',
    ]
    for method, row in table.items():
        lines.append(f'| {method} | {row["top1_mean"]:.2f} ± {row["top1_std"]:.2f} (n={row["seeds"]}) | '
                     f'{row["box_mAP"]:.1f} | {row["mIoU"]:.2f} | {row["pretrain_seconds"]:.0f} |')
    diff = mix['top1_mean'] - ce['top1_mean']
    verdict = 'above' if diff > 0 else 'not above'
    lines += ['', f'MixSKD - CE: top-1 {diff:+.2f} points (seed mean, MixSKD {verdict} CE), box mAP '
              f'{mix["box_mAP"] - ce["box_mAP"]:+.1f}, mIoU {mix["mIoU"] - ce["mIoU"]:+.2f}. Std is the sample '
              f'standard deviation over seeds; transfer numbers are single fine-tunes.', '',
              '## Pretraining runs', '', '| method | seed | top-1 | top-5 | first loss | last loss | train (s) |',
              '|---|---|---|---|---|---|---|']
    lines += [f'| {r["method"]} | {r["seed"]} | {r["top1"]:.2f} | {r["top5"]:.2f} | {r["first_loss"]:.3f} | '
              f'{r["last_loss"]:.3f} | {r["train_seconds"]:.0f} |' for r in runs]
    lines += ['', 'The loss of a MixSKD run is its whole objective (five terms, every exit), so it is not on the '
              'scale of the CE loss.', '', '## Transfer runs', '', '| task | backbone | metric | value | time (s) |',
              '|---|---|---|---|---|']
    lines += [f'| {t["task"]} | {t["method"]} | {t["metric"]} | {t["value"]:.2f} | {t["seconds"]:.0f} |'
              for t in transfers]
    lines += ['', '## Wall time', '', '| step | seconds |', '|---|---|']
    lines += [f'| {step} | {seconds:.0f} |' for step, seconds in timings.items()]
    lines += ['', f'Jobs: {args.jobs} at a time, {args.threads} thread(s) each. Plots: `loss_curves.png`, '
              '`results.png`, `predictions_detection.png`, `predictions_segmentation.png`. Logs in `logs/`.']
    return '\n'.join(lines) + '\n'


def write_results(text: str, table: Dict, runs: Sequence[Dict], transfers: Sequence[Dict], data: Dict,
                  timings: Dict, args: argparse.Namespace) -> Dict:
    """Write ``report.md`` and ``results.json`` into ``args.out``.

    Args:
        text: The report, from :func:`report_text`.
        table: The summary of :func:`summarise`.
        runs: The pretraining runs.
        transfers: The fine-tunes (their loss curves stay out of ``results.json``).
        data: The composed transfer data and the pretraining dataset.
        timings: Wall seconds per step; ``'total'`` is the whole demo.
        args: The demo's command line; every setting goes into ``results.json``.

    Returns:
        What ``results.json`` holds.
    """
    with open(osp.join(args.out, 'report.md'), 'w') as f:
        f.write(text)
    results = dict(data={k: v for k, v in data.items() if k != 'sources'}, summary=table, runs=runs,
                   transfer=[{k: v for k, v in t.items() if k != 'loss'} for t in transfers], timings=timings,
                   settings={k: v for k, v in vars(args).items()}, wall_seconds=timings['total'])
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    return results


# -- the plots ------------------------------------------------------------------------------------------------
def write_plots(runs: Sequence[Dict], transfers: Sequence[Dict], table: Dict, data: Dict, out: str) -> None:
    """Draw every PNG of the demo into ``out`` with matplotlib's Agg backend (no display needed).

    Args:
        runs: The pretraining runs.
        transfers: The fine-tunes.
        table: The summary of :func:`summarise`.
        data: The composed transfer data.
        out: The output folder.
    """
    import matplotlib
    matplotlib.use('Agg')
    import mixskd_mm  # noqa: F401  (weights-only loading of the fine-tuned checkpoints)
    plot_curves(runs, transfers, osp.join(out, 'loss_curves.png'))
    plot_results(table, osp.join(out, 'results.png'))
    plot_predictions(transfers, data, out)


def plot_curves(runs: Sequence[Dict], transfers: Sequence[Dict], path: str) -> None:
    """Plot the training losses: the pretraining runs of both methods, and the fine-tunes from both backbones.

    Args:
        runs: The pretraining runs (their curves are read from their ``work_dir``).
        transfers: The fine-tunes, with their ``loss`` curves.
        path: The PNG to write.
    """
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, method in zip(axes[0], METHODS):
        for r in (r for r in runs if r['method'] == method):
            c = curve(scalars(r['work_dir']))
            ax.plot(c['step'], c['value'], label=f'seed {r["seed"]}')
        ax.set(title=f'{method} pretraining: training loss', xlabel='iteration', ylabel='loss')
        ax.legend()
    for ax, task in zip(axes[1], ('detection', 'segmentation')):
        for t in (t for t in transfers if t['task'] == task):
            ax.plot(t['loss']['step'], t['loss']['value'], label=f'{t["method"]} backbone')
        ax.set(title=f'{task} fine-tune: training loss', xlabel='iteration', ylabel='loss')
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_results(table: Dict, path: str) -> None:
    """Plot bars of top-1 (mean ± std over seeds), box mAP and mIoU for both methods.

    Args:
        table: The summary of :func:`summarise`.
        path: The PNG to write.
    """
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    panels = (('top1_mean', 'top1_std', 'backbone top-1 (%)'), ('box_mAP', None, 'box mAP (%)'),
              ('mIoU', None, 'mIoU (%)'))
    for ax, (key, err, title) in zip(axes, panels):
        values = [table[m][key] for m in METHODS]
        bars = ax.bar(METHODS, values, yerr=[table[m][err] for m in METHODS] if err else None, capsize=6,
                      color=['tab:gray', 'tab:blue'])
        ax.bar_label(bars, fmt='%.2f', padding=3)
        ax.set(title=title, ylim=(min(values) * 0.9 if key == 'top1_mean' else 0, max(values) * 1.12 + 1e-6))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _val_images(data: Dict, count: int) -> List[str]:
    """The first ``count`` validation scene files, in name order."""
    return sorted(glob.glob(osp.join(data['root'], 'images', 'val', '*.png')))[:count]


def plot_predictions(transfers: Sequence[Dict], data: Dict, out: str, count: int = 4, score_thr: float = 0.3) -> None:
    """Draw the fine-tuned models' predictions on a few validation scenes next to the ground truth.

    The models are loaded in this process with mmdet's ``init_detector`` / mmseg's ``init_model`` from the configs
    and checkpoints the fine-tunes wrote.

    Args:
        transfers: The fine-tunes (``task``, ``method``, ``config``, ``checkpoint``).
        data: The composed transfer data (``root``, ``ann_files``, ``classes``).
        out: The folder of ``predictions_detection.png`` and ``predictions_segmentation.png``.
        count: How many validation scenes to draw.
        score_thr: The lowest score of a drawn predicted box.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle
    from PIL import Image
    images = _val_images(data, count)
    arrays = [np.asarray(Image.open(p).convert('RGB')) for p in images]
    with open(osp.join(data['root'], data['ann_files']['val'])) as f:
        coco = json.load(f)
    by_name = {im['file_name']: im['id'] for im in coco['images']}
    colours = plt.get_cmap('tab10')
    for task in ('detection', 'segmentation'):
        runs = [t for t in transfers if t['task'] == task]
        fig, axes = plt.subplots(1 + len(runs), len(images), figsize=(2.6 * len(images), 2.7 * (1 + len(runs))),
                                 squeeze=False)
        for col, (path, image) in enumerate(zip(images, arrays)):
            if task == 'detection':
                gt = [(a['bbox'], a['category_id'] - 1, None) for a in coco['annotations']
                      if a['image_id'] == by_name[osp.basename(path)]]
                rows = [('ground truth', gt)] + [(f'{t["method"]} backbone', _detect(t, path, score_thr))
                                                 for t in runs]
                for row, (title, boxes) in enumerate(rows):
                    ax = axes[row][col]
                    ax.imshow(image)
                    for (x, y, w, h), label, score in boxes:
                        ax.add_patch(Rectangle((x, y), w, h, fill=False, lw=1.5, color=colours(label)))
                        text = data['classes'][label] + (f' {score:.2f}' if score is not None else '')
                        ax.text(x, y - 1, text, color='white', fontsize=6, bbox=dict(fc=colours(label), pad=0.5, lw=0))
                    ax.set_title(title, fontsize=8)
            else:
                gt = np.asarray(Image.open(path.replace(f'{os.sep}images{os.sep}', f'{os.sep}labels{os.sep}')))
                rows = [('ground truth', gt)] + [(f'{t["method"]} backbone', _segment(t, path)) for t in runs]
                for row, (title, seg) in enumerate(rows):
                    ax = axes[row][col]
                    overlay = image.copy()
                    for label in range(1, len(data['classes']) + 1):
                        colour = np.array(colours(label - 1)[:3]) * 255
                        overlay[seg == label] = (0.4 * overlay[seg == label] + 0.6 * colour).astype(np.uint8)
                    ax.imshow(overlay)
                    ax.set_title(title, fontsize=8)
        for ax in axes.flat:
            ax.axis('off')
        fig.tight_layout()
        fig.savefig(osp.join(out, f'predictions_{task}.png'), dpi=90)
        plt.close(fig)


_MODELS: Dict[str, object] = {}  # the loaded fine-tuned models, by checkpoint


def _detect(run: Dict, image: str, score_thr: float) -> List:
    """``[([x, y, w, h], label, score), ...]`` of a fine-tuned detector on one image file."""
    from mmdet.apis import inference_detector, init_detector
    if run['checkpoint'] not in _MODELS:
        _MODELS[run['checkpoint']] = init_detector(run['config'], run['checkpoint'], device='cpu')
    pred = inference_detector(_MODELS[run['checkpoint']], image).pred_instances
    keep = pred.scores >= score_thr
    return [([x1, y1, x2 - x1, y2 - y1], int(label), float(score)) for (x1, y1, x2, y2), label, score in
            zip(pred.bboxes[keep].tolist(), pred.labels[keep].tolist(), pred.scores[keep].tolist())]


def _segment(run: Dict, image: str) -> np.ndarray:
    """The predicted label map of a fine-tuned segmentor on one image file."""
    from mmseg.apis import inference_model, init_model
    if run['checkpoint'] not in _MODELS:
        _MODELS[run['checkpoint']] = init_model(run['config'], run['checkpoint'], device='cpu')
    return inference_model(_MODELS[run['checkpoint']], image).pred_sem_seg.data[0].numpy()
