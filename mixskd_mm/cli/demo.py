"""`make demo`: tools/compare.py on the embedded real data (Fashion-MNIST), with detection and segmentation transfer.

    python tools/demo.py [--out outputs/demo] [--seeds 0 1] [--epochs 10] [--per-class 200] [--tune 2] [--jobs 2]
                         [--quick]
    mixskd-demo [...]     # the same, installed as a console script

1. data: Fashion-MNIST (MNIST-5k where the Debian package is missing): a balanced training subset, validation
   images from the rest of the training split, the official test split; detection / segmentation scenes composed
   from training images outside the subset, pasted on scikit-image photos (``mixskd_mm.datasets.scenes``), written
   as a COCO-format folder and an mmseg-layout folder;
2. the comparison: ``tools/compare.py --data fashion-mnist --methods ce,mixup,cutmix,mixskd,ce-matched --tune 2
   --det-data SCENES --seg-data SCENES --channels-last on`` with timm's tiny ``test_resnet`` (every run is
   ``tools/train.py`` + ``tools/test.py``, and one more ``tools/test.py`` under corruptions; the fine-tunes start from
   the first seed's backbones);
3. the report: ``report.md``, ``results.json`` and plots from the comparison (equal compute, tuning, robustness,
   confusions and Grad-CAM maps among them), plus the fine-tuned models'
   predictions on held-out scenes (``predictions_detection.png``, ``predictions_segmentation.png``).

Rerunning with the same ``--out`` resumes. The test split is evaluated once, at the end of each run.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time
from collections.abc import Sequence

from mixskd_mm.compare import cli as compare
from mixskd_mm.compare.configs import LABELS

DEFAULTS = dict(seeds=[0, 1], epochs=10, per_class=200, val_per_class=100, det_iters=100, seg_iters=100,
                scenes=[300, 100], tune=2)
#: the tests' tiny run; it leaves tuning out (tests/compare/test_tune.py runs --tune end to end)
QUICK = dict(seeds=[0], epochs=1, per_class=2, val_per_class=1, det_iters=2, seg_iters=2, scenes=[8, 4], tune=0)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; ``--quick`` shrinks every default for a test run."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='outputs/demo', help='output folder (report, results, plots, runs)')
    p.add_argument('--seeds', type=int, nargs='+', default=None, help=f'seeds (default {DEFAULTS["seeds"]})')
    p.add_argument('--epochs', type=int, default=None, help=f'pretraining epochs (default {DEFAULTS["epochs"]})')
    p.add_argument('--per-class', type=int, default=None,
                   help=f'pretraining images per class (default {DEFAULTS["per_class"]})')
    p.add_argument('--val-per-class', type=int, default=None,
                   help=f'validation images per class (default {DEFAULTS["val_per_class"]})')
    p.add_argument('--det-iters', type=int, default=None, help='detection fine-tune iterations')
    p.add_argument('--seg-iters', type=int, default=None, help='segmentation fine-tune iterations')
    p.add_argument('--scenes', type=int, nargs=2, default=None, metavar=('TRAIN', 'VAL'), help='composed scenes')
    p.add_argument('--methods', default='ce,mixup,cutmix,mixskd,ce-matched', help='methods compared')
    p.add_argument('--tune', type=int, default=None, metavar='N',
                   help=f'Optuna trials per method before the seed runs, the first its defaults (tools/compare.py '
                        f'--tune; default {DEFAULTS["tune"]}, 0: none)')
    p.add_argument('--data-root', default=None, help='Fashion-MNIST IDX folder (default: the Debian package)')
    p.add_argument('--jobs', type=int, default=None, help='runs at once (default: 2, or 1 on one core)')
    p.add_argument('--no-progress', action='store_true', help='no progress bars')
    p.add_argument('--quick', action='store_true',
                   help='a tiny run for tests: 1 seed, 1 epoch, 2 images per class, 2 fine-tune iterations')
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.out = osp.abspath(args.out)
    return args


def compare_argv(args: argparse.Namespace, scenes: str) -> list[str]:
    """The ``tools/compare.py`` command line of the demo."""
    # the embedded data have no pretrained source: every method starts from random weights
    argv = ['--data', 'fashion-mnist', '--out', args.out, '--init', 'scratch', '--model', 'test_resnet',
            '--epochs', str(args.epochs), '--batch', '64', '--lr', '0.05', '--methods', args.methods,
            '--seeds', *map(str, args.seeds),
            '--per-class', str(args.per_class), '--val-per-class', str(args.val_per_class),
            '--det-data', scenes, '--seg-data', scenes, '--det-iters', str(args.det_iters),
            '--seg-iters', str(args.seg_iters), '--transfer-seeds', '1',
            '--channels-last', 'on']  # test_resnet's 28 px MixSKD step: 0.80x contiguous's time on 1 thread (README)
    if args.data_root:
        argv += ['--data-root', args.data_root]
    if args.tune:
        argv += ['--tune', str(args.tune)]
    if args.jobs:
        argv += ['--jobs', str(args.jobs)]
    if args.quick:  # a 2-iteration detector scores below 0.05: keep its boxes to measure
        argv += ['--det-options', 'model.test_cfg.score_thr=0.0']
    if args.no_progress:
        argv.append('--no-progress')
    return argv


def compose(args: argparse.Namespace) -> dict:
    """Write the composed scenes (once) from training images outside the pretraining subset."""
    from mixskd_mm.datasets.scenes import write_composed_dataset
    root = osp.join(args.out, 'scenes')
    kwargs = dict(data_root=args.data_root) if args.data_root else {}
    if osp.isfile(osp.join(root, 'meta.json')):
        import json
        with open(osp.join(root, 'meta.json')) as f:
            info = json.load(f)
    else:
        os.makedirs(root, exist_ok=True)
        info = write_composed_dataset(root, num_per_class=args.per_class, subset_seed=0, num_train=args.scenes[0],
                                      num_val=args.scenes[1], **kwargs)
    return dict(info, root=root)


def prediction_plots(results: dict, scenes: dict, out: str) -> None:
    """Draw the first seed's fine-tuned models on held-out scenes."""
    from mixskd_mm.compare.transfer.predictions import write_prediction_plots
    runs = []
    for t in results['transfers']:
        with open(osp.join(t['work_dir'], 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        runs.append(dict(task=t['task'], method=LABELS[t['method']], config=t['config'], checkpoint=checkpoint))
    write_prediction_plots(runs, scenes, out)


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the demo; returns what results.json holds."""
    args = parse_args(argv)
    start = time.time()
    os.makedirs(args.out, exist_ok=True)
    scenes = compose(args)
    print(f'[demo] {scenes["counts"]["train"]["images"]} / {scenes["counts"]["val"]["images"]} composed scenes in '
          f'{scenes["root"]} ({time.time() - start:.0f} s)', flush=True)
    results = compare.main(compare_argv(args, scenes['root']))
    prediction_plots(results, scenes, args.out)
    print(f'[demo] done in {time.time() - start:.0f} s: {args.out}/report.md, predictions_*.png', flush=True)
    return results


def cli(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``tools/demo.py`` and ``mixskd-demo``: errors end the program with their message."""
    try:
        main(argv)
    except (RuntimeError, ValueError, FileNotFoundError) as err:
        sys.exit(f'[demo] {err}')
