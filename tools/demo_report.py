"""What tools/demo.py writes once its runs are done: the results read from the runs' logs, ``report.md`` and
``results.json`` (the PNG plots are ``demo_plots.py``).

Plain functions over the dicts the demo's steps return; tools/demo.py imports them (it is not a package, so it puts
this folder on ``sys.path`` when it is loaded from elsewhere).
"""
from __future__ import annotations

import argparse
import glob
import json
import os.path as osp
import statistics
from typing import Dict, List, Sequence

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
