"""``tools/compare.py``: the command line and the steps of a comparison (data, pretraining, transfer, report)."""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import time
from collections.abc import Sequence

from mixskd_mm.weights.file_checks import WeightsFileError

from .across import write_across
from .compute import ComputeMatch, match_compute
from .configs import DEFAULT_METHODS, LAYOUTS, MATCHED, METHODS, MIXSKD_METHODS
from .corrupted import evaluate_all, plan_evaluations, write_corrupted
from .data import EMBEDDED, DataError, prepare_data
from .looks import CAM_IMAGES
from .options import check_options
from .plan import DEFAULT_ROBUSTNESS_IMAGES, Comparison, Settings
from .processes import ToolPool
from .results import choose_variants, run_result
from .running import fine_tune_all, pretrain_all, print_commands
from .starts import parse_init, plan_starts, record_starts, start_folder
from .study import SettingsChanged, check_settings, plan_pretraining, record_settings
from .transfer.runs import plan_transfer, read_transfers
from .tune.running import tune_step
from .writing import write_report

DESCRIPTION = 'Does MixSKD pay off on my data? Compare CE, Mixup, CutMix and MixSKD pretraining, honestly.'


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``tools/compare.py``."""
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument('--data', required=True,
                   help=f'class folders (DIR/<class>/*, or DIR/train/<class> [+ DIR/val, DIR/test]), an annotation '
                        f'file (train.txt of "path label" lines), or {EMBEDDED!r} (the embedded data)')
    p.add_argument('--out', default='outputs/compare', help='output folder; rerun with the same one to resume')
    g = p.add_argument_group('pretraining')
    g.add_argument('--model', default='resnet18', help='timm CNN (default resnet18)')
    g.add_argument('--init', default='timm', metavar='START[,START...]',
                   help="where every backbone starts: 'scratch' (random weights), 'timm' (timm's ImageNet weights of "
                        "--model, through the Hugging Face cache; the default), 'hf-hub:ORG/NAME', 'local-dir:PATH', "
                        "a backbone file or a run directory. Several, comma-separated, make the start a factor: every "
                        "method runs from each, and the report compares them. Weights are fetched once, before any run")
    g.add_argument('--img-size', type=int, default=None,
                   help='training crop side (default: from pretrained weights, the size their source records; else '
                        'the median shorter image side, rounded to 32, in 32..224)')
    g.add_argument('--epochs', type=int, default=None,
                   help='training epochs (default: 30 from scratch, 15 from pretrained weights)')
    g.add_argument('--batch', type=int, default=32)
    g.add_argument('--lr', type=float, default=None,
                   help='SGD learning rate (default: 0.05 * batch / 64 from scratch, 0.01 * batch / 64 from pretrained '
                        'weights; 1 warm-up epoch, then cosine decay)')
    g.add_argument('--methods', default=','.join(DEFAULT_METHODS),
                   help=f'comma-separated, from {",".join(METHODS)} (default {",".join(DEFAULT_METHODS)})')
    g.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    g.add_argument('--amp', action='store_true',
                   help='mixed precision in every pretraining run (tools/train.py --amp: fp16 on GPUs, bf16 on CPUs '
                        'with native bf16; refused with the reason elsewhere). Fine-tunes stay fp32')
    g.add_argument('--sweep', action='append', default=[], metavar='KEY=V1,V2,...',
                   help='try each value of a config key (e.g. model.alpha=0.2,0.4,1.0); chosen on validation top-1')
    g.add_argument('--tune', type=int, default=None, metavar='N',
                   help='tune each method first: N Optuna trials (TPE, median pruning) on validation data, each a '
                        'tools/train.py run on the first seed; then the seeds train each method\'s best setting. '
                        'The spaces are in mixskd_mm/compare/tune/spaces.py; the study resumes from OUT/tune')
    g.add_argument('--val-fraction', type=float, default=0.2, help='share of each class carved for validation')
    g.add_argument('--max-per-class', type=int, default=None, help='use at most N training images per class')
    g.add_argument('--drop-duplicates', action='store_true',
                   help='drop from validation and test the images that are the same picture (same bytes or same '
                        'decoded pixels) as an image of an earlier split (train, then val); they are warned about '
                        'either way')
    g.add_argument('--per-class', type=int, default=500, help=f'{EMBEDDED}: training images per class')
    g.add_argument('--val-per-class', type=int, default=100, help=f'{EMBEDDED}: validation images per class')
    g.add_argument('--data-root', default=None, help=f'{EMBEDDED}: IDX folder (default: the Debian package)')
    _robustness_options(p.add_argument_group('robustness'))
    _transfer_options(p.add_argument_group('transfer (optional)'))
    _running_options(p.add_argument_group('running'))
    return p


def _robustness_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument('--no-robustness', action='store_true',
                   help='skip the evaluation under common corruptions (ImageNet-C style: noise, blur, brightness, '
                        'contrast, JPEG at 3 severities; one more tools/test.py per run). It can be turned off and on '
                        'again on the same --out: it never changes the other numbers')
    g.add_argument('--robustness-images', type=int, default=DEFAULT_ROBUSTNESS_IMAGES, metavar='N',
                   help='corrupt a seeded subset of N images of the test split (the validation split without one); '
                        f'0: all of them (default {DEFAULT_ROBUSTNESS_IMAGES}: each run then reads 15 x N corrupted '
                        f'images)')


def _transfer_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument('--det-config', help='your mmdet or Detectron2 config: fine-tuned from every pretrained backbone')
    g.add_argument('--seg-config', help='your mmseg config: fine-tuned from every pretrained backbone')
    g.add_argument('--det-data', help='a COCO-format folder, fine-tuned with configs/demo/retinanet_*.py')
    g.add_argument('--seg-data', help='an mmseg-layout folder, fine-tuned with configs/demo/fpn_*.py')
    g.add_argument('--det-iters', type=int, default=300, help='iterations of the --det-data recipe')
    g.add_argument('--seg-iters', type=int, default=300, help='iterations of the --seg-data recipe')
    g.add_argument('--transfer-seeds', type=int, default=None,
                   help='fine-tune the backbones of the first N seeds (default: all)')
    g.add_argument('--det-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='--cfg-options (Detectron2: its KEY VALUE opts) of every detection fine-tune')
    g.add_argument('--seg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='--cfg-options of every segmentation fine-tune (e.g. train_cfg.max_iters=2000)')


def _running_options(g: argparse._ArgumentGroup) -> None:
    g.add_argument('--jobs', type=int, default=None, help='runs at once (default: 2 on a CPU with 2+ cores, or 1)')
    g.add_argument('--gpus', default=None, help='comma-separated GPU ids: one run per GPU')
    g.add_argument('--workers', type=int, default=0, help='data-loader worker processes per run')
    g.add_argument('--channels-last', choices=LAYOUTS, default='off',
                   help="memory layout of the pretraining runs (model.channels_last): off (contiguous), on, or auto "
                        "(each convolution in the layout timed faster; README, Performance). A speed setting, like "
                        "--jobs: it changes results at float rounding only")
    g.add_argument('--print-commands', action='store_true', help='print every run\'s command and stop')
    g.add_argument('--collect', action='store_true', help='only build the report from finished work directories')
    g.add_argument('--tune-only', action='store_true',
                   help='with --tune: run trials until every method has N, then stop; several processes may run it '
                        'at once on one --out (a cluster\'s array job)')
    g.add_argument('--no-progress', action='store_true', help='no progress bars')
    g.add_argument('--cam-images', type=int, default=CAM_IMAGES, metavar='N',
                   help=f'Grad-CAM maps of every method on N images of the reported split (default {CAM_IMAGES}; '
                        f'0: none). The report is drawn from the finished runs: changing N retrains nothing')


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line; fill in the running options that depend on other options (the defaults of
    the settings, such as the learning rate, are :class:`~mixskd_mm.compare.plan.Settings`')."""
    args = build_parser().parse_args(argv)
    check_options(args)
    args.init = parse_init(args.init)
    args.methods = [m.strip() for m in args.methods.split(',') if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown or not args.methods:
        raise SystemExit(f'--methods: unknown {unknown}; choose from {", ".join(METHODS)}')
    matched = [m for m in args.methods if m in MATCHED]
    if matched and not any(m in args.methods for m in MIXSKD_METHODS):
        raise SystemExit(f'--methods: {", ".join(matched)} train as long as makes their cost equal MixSKD\'s; add '
                         f'mixskd (or mixskd-conv) to --methods, or leave {", ".join(matched)} out')
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f'--seeds repeats a seed: {args.seeds}')
    for flag, config, folder in (('det', args.det_config, args.det_data), ('seg', args.seg_config, args.seg_data)):
        if config and folder:
            raise SystemExit(f'give --{flag}-config or --{flag}-data, not both')
    _check_tune(args)
    args.gpus = [g.strip() for g in args.gpus.split(',') if g.strip()] if args.gpus else []
    args.jobs = len(args.gpus) or args.jobs or min(2, os.cpu_count() or 1)
    args.out = osp.abspath(args.out)
    return args


def _check_tune(args: argparse.Namespace) -> None:
    """``--tune``: not with ``--sweep`` (two ways of choosing a setting), every method has a search space;
    ``--tune-only`` needs ``--tune``."""
    if args.tune_only and not args.tune:
        raise SystemExit('--tune-only runs the trials of --tune N: give --tune N too')
    if not args.tune:
        return
    if args.sweep:
        raise SystemExit(f'--tune {args.tune} with --sweep {" --sweep ".join(args.sweep)}: choose one way of choosing '
                         f'each method\'s setting, the Optuna search (--tune) or your grid (--sweep)')
    from .tune.spaces import space
    for method in args.methods:
        try:
            space(method)
        except ValueError as err:
            raise SystemExit(str(err)) from None


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


def load_data(settings: Settings, out: str) -> dict:
    """The data summary: read once, then kept in ``OUT/data/data.json``."""
    path = osp.join(out, 'data', 'data.json')
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    embedded = dict(per_class=settings.per_class, val_per_class=settings.val_per_class, data_root=settings.data_root)
    return prepare_data(settings.data, out, settings.val_fraction, max_per_class=settings.max_per_class,
                        embedded=embedded, drop_duplicates=settings.drop_duplicates)


# -- main ---------------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> dict:
    """Run, resume or collect a comparison; returns what ``results.json`` holds (``{}`` with ``--print-commands``).

    With several starts (``--init scratch,timm``) each start is a comparison of its own in ``OUT/starts/LABEL``, and
    ``OUT/results.json`` compares them (:mod:`~mixskd_mm.compare.across`); with one, the comparison is ``OUT``.
    """
    args = parse_args(argv)
    began = time.time()
    if args.amp:
        check_amp(args.gpus)
    settings = Settings.from_args(args)
    check_settings(args.out, settings.recorded())
    starts = plan_starts(settings.init, settings.model, args.out)  # every download happens here, before any run
    data = load_data(settings, args.out)
    record_settings(args.out, settings.recorded())
    record_starts(args.out, starts)
    comparisons = [Comparison.build(settings, data, start_folder(args.out, p, len(starts) > 1), args.jobs,
                                    args.channels_last, p, osp.join(args.out, 'data')) for p in starts]
    matches = {c.start.label: match_compute(settings.methods, data, c.pretraining, c.out) for c in comparisons}
    pool = ToolPool(args.jobs, args.gpus, progress=not args.no_progress)
    tuned = tune_step(pool, comparisons, sys.argv[1:] if argv is None else argv, args.print_commands, args.collect,
                      args.tune_only) if settings.tune else {}
    if tuned is None:  # the tuning's commands printed, or --tune-only done
        return {}
    runs = {c.start.label: plan_pretraining(c.out, settings.methods, settings.seeds, c.variants, data, c.pretraining,
                                            c.data_dir, _matched(matches[c.start.label]), tuned.get(c.start.label))
            for c in comparisons}
    every_run = [(r, c) for c in comparisons for r in runs[c.start.label]]
    evals = {} if args.no_robustness else {c.start.label: plan_evaluations(runs[c.start.label], write_corrupted(
        c.data_dir, c.split, c.pretraining.img_size, settings.robustness_images)) for c in comparisons}
    every_eval = [(e, c.out) for c in comparisons for e in evals.get(c.start.label, [])]
    if args.print_commands and not all(r.finished for r, _ in every_run):
        print_commands([r for r, _ in every_run], [], [e for e, _ in every_eval])
        return {}
    pretrain_all(pool, every_run, args.collect)
    results = {c.start.label: {r.key: run_result(r, c.pretraining) for r in runs[c.start.label]} for c in comparisons}
    chosen = {label: choose_variants(list(found.values())) for label, found in results.items()}
    fine_tunes = {c.start.label: plan_transfer(c, chosen[c.start.label], results[c.start.label]) for c in comparisons}
    if args.print_commands:
        print_commands([r for r, _ in every_run], [f for c in comparisons for f in fine_tunes[c.start.label]],
                       [e for e, _ in every_eval])
        return {}
    evaluate_all(pool, every_eval, args.collect)
    fine_tune_all(pool, [(f, c.out) for c in comparisons for f in fine_tunes[c.start.label]], args.collect)
    written = {c.start.label: write_report(c, list(results[c.start.label].values()), chosen[c.start.label],
                                           read_transfers(fine_tunes[c.start.label]), time.time() - began,
                                           matches[c.start.label], args.cam_images, evals.get(c.start.label, ()))
               for c in comparisons}
    if len(starts) == 1:
        return written[starts[0].label]
    verdicts = {label: out['verdict'] for label, out in written.items()}
    return write_across(args.out, settings.recorded(), starts, written, verdicts, time.time() - began)


def _matched(match: ComputeMatch | None) -> dict[str, int]:
    return dict(match.matched_epochs) if match else {}


def cli(argv: Sequence[str] | None = None) -> None:
    """Entry point: errors of the user's input end the program with their message, not a traceback."""
    try:
        main(argv)
    except (DataError, SettingsChanged, RuntimeError, FileNotFoundError, WeightsFileError) as err:
        sys.exit(f'[compare] {err}')
