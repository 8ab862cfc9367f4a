"""``tools/compare.py``: the command line and the steps of a comparison (data, pretraining, transfer, report)."""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import time
from collections.abc import Sequence
from functools import partial

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from . import analysis
from .configs import DEFAULT_METHODS, LAYOUTS, METHODS
from .data import EMBEDDED, DataError, prepare_data
from .options import check_options
from .plots import write_plots
from .processes import ToolPool
from .report import console_table, report_markdown
from .study import (
    PretrainRun,
    SettingsChanged,
    check_settings,
    parse_sweep,
    plan_pretraining,
    record_settings,
)

DESCRIPTION = 'Does MixSKD pay off on my data? Compare CE, Mixup, CutMix and MixSKD pretraining, honestly.'
#: the methods' training cost, most expensive first (runs start in this order so that no long run starts last)
COST_RANK = {'mixskd': 0, 'mixskd-conv': 1, 'cutmix': 2, 'mixup': 3, 'ce': 4}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/compare.py``."""
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument('--data', required=True,
                   help=f'class folders (DIR/<class>/*, or DIR/train/<class> [+ DIR/val, DIR/test]), an annotation '
                        f'file (train.txt of "path label" lines), or {EMBEDDED!r} (the embedded data)')
    p.add_argument('--out', default='outputs/compare', help='output folder; rerun with the same one to resume')
    g = p.add_argument_group('pretraining')
    g.add_argument('--model', default='resnet18', help='timm CNN (default resnet18)')
    g.add_argument('--img-size', type=int, default=None,
                   help='training crop side (default: median shorter image side, rounded to 32, in 32..224)')
    g.add_argument('--epochs', type=int, default=30)
    g.add_argument('--batch', type=int, default=32)
    g.add_argument('--lr', type=float, default=None, help='SGD learning rate (default 0.05 * batch / 64)')
    g.add_argument('--methods', default=','.join(DEFAULT_METHODS),
                   help=f'comma-separated, from {",".join(METHODS)} (default {",".join(DEFAULT_METHODS)})')
    g.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    g.add_argument('--amp', action='store_true',
                   help='mixed precision in every pretraining run (tools/train.py --amp: fp16 on GPUs, bf16 on CPUs '
                        'with native bf16; refused with the reason elsewhere). Fine-tunes stay fp32')
    g.add_argument('--sweep', action='append', default=[], metavar='KEY=V1,V2,...',
                   help='try each value of a config key (e.g. model.alpha=0.2,0.4,1.0); chosen on validation top-1')
    g.add_argument('--val-fraction', type=float, default=0.2, help='share of each class carved for validation')
    g.add_argument('--max-per-class', type=int, default=None, help='use at most N training images per class')
    g.add_argument('--drop-duplicates', action='store_true',
                   help='drop from validation and test the images that are the same picture (same bytes or same '
                        'decoded pixels) as an image of an earlier split (train, then val); they are warned about '
                        'either way')
    g.add_argument('--per-class', type=int, default=500, help=f'{EMBEDDED}: training images per class')
    g.add_argument('--val-per-class', type=int, default=100, help=f'{EMBEDDED}: validation images per class')
    g.add_argument('--data-root', default=None, help=f'{EMBEDDED}: IDX folder (default: the Debian package)')
    g = p.add_argument_group('transfer (optional)')
    g.add_argument('--det-config', help='your mmdet config: fine-tuned from every pretrained backbone')
    g.add_argument('--seg-config', help='your mmseg config: fine-tuned from every pretrained backbone')
    g.add_argument('--det-data', help='a COCO-format folder, fine-tuned with configs/demo/retinanet_*.py')
    g.add_argument('--seg-data', help='an mmseg-layout folder, fine-tuned with configs/demo/fpn_*.py')
    g.add_argument('--det-iters', type=int, default=300, help='iterations of the --det-data recipe')
    g.add_argument('--seg-iters', type=int, default=300, help='iterations of the --seg-data recipe')
    g.add_argument('--transfer-seeds', type=int, default=None,
                   help='fine-tune the backbones of the first N seeds (default: all)')
    g.add_argument('--det-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='--cfg-options of every detection fine-tune (e.g. train_cfg.max_epochs=2)')
    g.add_argument('--seg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='--cfg-options of every segmentation fine-tune (e.g. train_cfg.max_iters=2000)')
    g = p.add_argument_group('running')
    g.add_argument('--jobs', type=int, default=None, help='runs at once (default: 2 on a CPU with 2+ cores, or 1)')
    g.add_argument('--gpus', default=None, help='comma-separated GPU ids: one run per GPU')
    g.add_argument('--workers', type=int, default=0, help='data-loader worker processes per run')
    g.add_argument('--channels-last', choices=LAYOUTS, default='off',
                   help="memory layout of the pretraining runs (model.channels_last): off (contiguous), on, or auto "
                        "(each convolution in the layout timed faster; README, Performance). A speed setting, like "
                        "--jobs: it changes results at float rounding only")
    g.add_argument('--print-commands', action='store_true', help='print every run\'s command and stop')
    g.add_argument('--collect', action='store_true', help='only build the report from finished work directories')
    g.add_argument('--no-progress', action='store_true', help='no progress bars')
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line; fill in the defaults that depend on other options."""
    args = build_parser().parse_args(argv)
    check_options(args)
    args.methods = [m.strip() for m in args.methods.split(',') if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown or not args.methods:
        raise SystemExit(f'--methods: unknown {unknown}; choose from {", ".join(METHODS)}')
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f'--seeds repeats a seed: {args.seeds}')
    if args.lr is None:
        args.lr = round(0.05 * args.batch / 64, 6)
    for flag in ('det', 'seg'):
        if getattr(args, f'{flag}_config') and getattr(args, f'{flag}_data'):
            raise SystemExit(f'give --{flag}-config or --{flag}-data, not both')
    args.gpus = [g.strip() for g in args.gpus.split(',') if g.strip()] if args.gpus else []
    args.jobs = len(args.gpus) or args.jobs or min(2, os.cpu_count() or 1)
    args.out = osp.abspath(args.out)
    return args


def settings_of(args: argparse.Namespace) -> dict:
    """What decides the numbers of a comparison (recorded in ``settings.json``; jobs and GPUs do not count)."""
    def path(p):
        return osp.abspath(p) if p else None
    return dict(data=args.data if args.data == EMBEDDED else path(args.data), model=args.model,
                img_size=args.img_size, epochs=args.epochs, batch=args.batch, lr=args.lr, methods=args.methods,
                seeds=args.seeds, sweep=args.sweep, val_fraction=args.val_fraction, max_per_class=args.max_per_class,
                embedded=dict(per_class=args.per_class, val_per_class=args.val_per_class,
                              data_root=path(args.data_root)) if args.data == EMBEDDED else None,
                workers=args.workers, det_config=path(args.det_config), seg_config=path(args.seg_config),
                det_data=path(args.det_data), seg_data=path(args.seg_data),
                det_iters=args.det_iters if args.det_data else None,
                seg_iters=args.seg_iters if args.seg_data else None, transfer_seeds=args.transfer_seeds,
                det_options=args.det_options, seg_options=args.seg_options, **({'amp': True} if args.amp else {}),
                **({'drop_duplicates': True} if args.drop_duplicates else {}))


def check_amp(gpus: str | None) -> None:
    """Refuse ``--amp`` before any run starts where ``tools/train.py --amp`` would refuse it in every run (the rule
    of :func:`~mixskd_mm.engine.runner_setup.amp_support`; the runs see the GPUs this process sees).

    Raises:
        RuntimeError: with ``--gpus`` but no CUDA; on a CPU without native bf16, with the reason.
    """
    import torch

    from mixskd_mm.engine.runner_setup import amp_support
    cuda = torch.cuda.is_available()
    if gpus and not cuda:
        raise RuntimeError('--amp with --gpus needs CUDA, and torch sees no GPU here')
    supported, reason = amp_support(cuda)
    if not supported:
        raise RuntimeError(f'--amp on this CPU: {reason}. Leave --amp out (fp32), or run on GPUs with --gpus')


def load_data(args: argparse.Namespace) -> dict:
    """The data summary: read once, then kept in ``OUT/data/data.json``."""
    path = osp.join(args.out, 'data', 'data.json')
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    embedded = dict(per_class=args.per_class, val_per_class=args.val_per_class, data_root=args.data_root)
    return prepare_data(args.data, args.out, args.val_fraction, max_per_class=args.max_per_class,
                        embedded=embedded, drop_duplicates=args.drop_duplicates)


def _log(args: argparse.Namespace, name: str) -> str:
    return osp.join(args.out, 'logs', f'{name}.log')


def pretrain(pool: ToolPool, run: PretrainRun, iters_per_epoch: int, args: argparse.Namespace) -> PretrainRun:
    """Train (or resume) one run, then evaluate the test split once; record what each step cost."""
    from .study import add_cost
    if not run.trained:
        resume = run.resumable
        result = pool.run(f'{run.name}{" (resume)" if resume else ""}', run.train_args(resume), _log(args, run.name),
                          iters_per_epoch * run.epochs, iters_per_epoch)
        add_cost(run.work_dir, 'train', result.seconds, result.max_rss_mib)
        scores, checkpoint = osp.join(run.work_dir, 'val_scores.npz'), run.checkpoint
        if osp.getmtime(scores) < osp.getmtime(checkpoint):
            raise RuntimeError(f'{run.name}: the final validation did not run after {checkpoint} was written (the '
                               f'run was interrupted during it). Delete {run.work_dir} and rerun to train it again.')
    if not run.tested:
        result = pool.run(f'{run.name} test', run.test_args(), _log(args, run.name + '_test'))
        add_cost(run.work_dir, 'test', result.seconds, result.max_rss_mib)
    return run


def print_commands(runs: Sequence[PretrainRun], transfers: Sequence[dict]) -> None:
    """Print every command (finished ones commented), for a scheduler (see tools/slurm_train.sh)."""
    for run in runs:
        prefix = '# done: ' if run.finished else ''
        for command in run.commands():
            print(prefix + 'python ' + ' '.join(command))
    for t in transfers:
        print(('# done: ' if t['done'] else '') + t['command'])
    if not transfers and runs:
        print('# the fine-tune commands follow once pretraining is finished (they use its chosen backbones)')
    print('# on Slurm: GPUS=1 bash tools/slurm_train.sh PARTITION NAME CONFIG --work-dir DIR for each train command '
          '(srun python tools/test.py ... for the test commands); then rerun with --collect')


# -- main ---------------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> dict:
    """Run, resume or collect a comparison; returns what ``results.json`` holds (``{}`` with ``--print-commands``)."""
    args = parse_args(argv)
    start = time.time()
    if args.amp:
        check_amp(args.gpus)
    settings = settings_of(args)
    check_settings(args.out, settings)
    data = load_data(args)
    record_settings(args.out, settings)
    split = 'test' if data['has_test'] else 'val'
    pre = dict(model=args.model, img_size=args.img_size or data['img_size'], epochs=args.epochs, batch=args.batch,
               lr=args.lr, workers=args.workers, channels_last=args.channels_last, amp=args.amp)
    runs = plan_pretraining(args.out, args.methods, args.seeds, parse_sweep(args.sweep), data, pre)
    pool = ToolPool(args.jobs, args.gpus, progress=not args.no_progress)
    pending = [r for r in runs if not r.finished]
    if args.print_commands and pending:
        print_commands(runs, [])
        return {}
    iters_per_epoch = -(-data['splits']['train']['images'] // args.batch)
    if pending and not args.collect:
        print(f'[compare] {len(pending)} of {len(runs)} pretraining runs to do, {pool.jobs} at a time '
              f'({pool.threads} thread(s) each)', flush=True)
        longest_first = sorted(pending, key=lambda r: COST_RANK.get(r.method, len(COST_RANK)))  # a short tail
        pool.map([partial(pretrain, pool, r, iters_per_epoch, args) for r in longest_first])
    unfinished = [r.name for r in runs if not r.finished]
    if unfinished:
        raise RuntimeError(f'{len(unfinished)} pretraining run(s) have not finished: {", ".join(unfinished)}. Run '
                           f'their commands (--print-commands), or rerun without --collect.')
    topk = min(5, len(data['classes']))
    results = [analysis.run_result(r, args.batch, topk, data['splits']['train']['images']) for r in runs]
    chosen = analysis.choose_settings(results)
    from .transfer.runs import fine_tune, plan_transfer, transfer_value
    specs = plan_transfer(args, chosen, results)
    if args.print_commands:
        print_commands(runs, specs)
        return {}
    todo = [s for s in specs if not s['done']]
    if todo and not args.collect:
        print(f'[compare] {len(todo)} fine-tune(s) to do', flush=True)
        pool.map([partial(fine_tune, pool, s, _log(args, osp.basename(s['work_dir']))) for s in todo])
    transfers = []
    for s in specs:
        value = transfer_value(s)
        if value is None:
            raise RuntimeError(f'fine-tune {s["work_dir"]} has not finished: {s["command"]}')
        transfers.append(dict({k: v for k, v in s.items() if k != 'args'}, value=value))
    return write_report(args, data, split, runs, results, chosen, transfers, time.time() - start)


def write_report(args: argparse.Namespace, data: dict, split: str, runs: Sequence[PretrainRun],
                 results: Sequence[dict], chosen: dict, transfers: Sequence[dict], seconds: float) -> dict:
    """Compute the analysis and write ``report.md``, ``results.json`` and the plots into ``--out``."""
    table = analysis.summarise(results, chosen, split)
    pairs = analysis.comparisons(results, table, split)
    transfer = analysis.transfer_summary(transfers, table)
    reliability = analysis.pooled_reliability(results, table, split)
    plots = write_plots(table, reliability, data['classes'], split, args.out)
    settings = dict(settings_of(args), img_size=args.img_size or data['img_size'], jobs=args.jobs,
                    channels_last=args.channels_last)
    text = report_markdown(data, settings, table, pairs, chosen, transfer, results, transfers, split, plots)
    atomic_write_bytes(text.encode(), osp.join(args.out, 'report.md'))
    out = dict(settings=settings, data={k: v for k, v in data.items()}, split=split, summary=table,
               comparisons=pairs, chosen=chosen, transfer=transfer, transfers=transfers, runs=results,
               reliability=reliability, plots=plots, seconds=round(seconds, 1))
    atomic_write_bytes(json.dumps(out, indent=1).encode(), osp.join(args.out, 'results.json'))
    print('\n'.join(console_table(table, transfer)))
    print(f'\n[compare] {text.split("## Verdict")[1].split("## Setup")[0].strip()}')
    if data.get('duplicates', {}).get('message'):  # said when the data were read, and again beside the numbers
        print(f'[compare] warning: {data["duplicates"]["message"]}')
    print(f'[compare] wrote {args.out}/report.md, results.json and {len(plots)} plots', flush=True)
    return out


def cli(argv: Sequence[str] | None = None) -> None:
    """Entry point: errors of the user's input end the program with their message, not a traceback."""
    try:
        main(argv)
    except (DataError, SettingsChanged, RuntimeError, FileNotFoundError) as err:
        sys.exit(f'[compare] {err}')
