"""``tools/compare.py``: the command line and the steps of a comparison (data, pretraining, transfer, report)."""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
import time
from collections.abc import Sequence

from mixskd_mm.utils.atomic_io import atomic_write_bytes
from mixskd_mm.weights.file_checks import WeightsFileError

from . import analysis
from .across import write_across
from .configs import DEFAULT_METHODS, LAYOUTS, METHODS
from .corrupted import CorruptionEval, evaluate_all, plan_evaluations, write_corrupted
from .data import EMBEDDED, DataError, prepare_data
from .options import check_options
from .plan import DEFAULT_ROBUSTNESS_IMAGES, Comparison, Settings
from .plots import write_plots
from .processes import ToolPool
from .report import Section, build_report
from .results import Choice, RunResult, choose_variants, run_result
from .robustness import robustness_summary
from .robustness_report import robustness_plot, robustness_section
from .running import fine_tune_all, pretrain_all, print_commands
from .starts import parse_init, plan_starts, record_starts, start_folder
from .study import SettingsChanged, check_settings, plan_pretraining, record_settings
from .transfer.runs import TransferResult, plan_transfer, read_transfers

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
    g.add_argument('--no-progress', action='store_true', help='no progress bars')


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
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f'--seeds repeats a seed: {args.seeds}')
    for flag, config, folder in (('det', args.det_config, args.det_data), ('seg', args.seg_config, args.seg_data)):
        if config and folder:
            raise SystemExit(f'give --{flag}-config or --{flag}-data, not both')
    args.gpus = [g.strip() for g in args.gpus.split(',') if g.strip()] if args.gpus else []
    args.jobs = len(args.gpus) or args.jobs or min(2, os.cpu_count() or 1)
    args.out = osp.abspath(args.out)
    return args


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
    runs = {c.start.label: plan_pretraining(c.out, settings.methods, settings.seeds, c.variants, data,
                                            c.pretraining, c.data_dir) for c in comparisons}
    pool = ToolPool(args.jobs, args.gpus, progress=not args.no_progress)
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
                                           evals.get(c.start.label, ()))
               for c in comparisons}
    if len(starts) == 1:
        return written[starts[0].label]
    verdicts = {label: out['verdict'] for label, out in written.items()}
    return write_across(args.out, settings.recorded(), starts, written, verdicts, time.time() - began)


def write_report(comparison: Comparison, results: Sequence[RunResult], chosen: dict[str, Choice],
                 transfers: Sequence[TransferResult], seconds: float,
                 evaluations: Sequence[CorruptionEval] = ()) -> dict:
    """Compute the analysis and write ``report.md``, ``results.json`` and the plots into the comparison's folder
    (with ``evaluations``, the runs' evaluations under corruptions, its part on robustness too)."""
    c, split, data = comparison, comparison.split, dict(comparison.data)
    table = analysis.summarise(results, chosen, split)
    pairs = analysis.comparisons(results, chosen, table, split)
    transfer = analysis.transfer_summary(transfers, table)
    reliability = analysis.pooled_reliability(results, table, split)
    note = None if c.settings.scratch_only else f'start: {c.start.start.spec}'
    plots = write_plots(table, reliability, data['classes'], split, c.out, note)
    settings = c.described()
    commands = [line for r in results for line in r.run.command_lines()] + [e.command for e in evaluations] + \
        [t.fine_tune.command for t in transfers]
    sections: list[Section] = []  # the further analyses, each computed from the runs' own files
    robustness = robustness_summary(evaluations, table, split) if evaluations else None
    if robustness:
        sections.append(robustness_section(robustness))
        plots.append(robustness_plot(robustness, c.out, note))
    report = build_report(data, settings, table, pairs, chosen, transfer, commands, split, plots, c.pretraining.topk,
                          sections)
    atomic_write_bytes(report.markdown.encode(), osp.join(c.out, 'report.md'))
    out = dict(settings=settings, data=data, split=split, summary={m: row.as_json() for m, row in table.items()},
               comparisons=pairs,
               chosen={m: choice.as_json() for m, choice in chosen.items()}, transfer=transfer,
               transfers=[t.as_json() for t in transfers], runs=[r.as_json() for r in results],
               reliability=reliability, plots=plots, verdict=report.verdict, robustness=robustness,
               seconds=round(seconds, 1))
    atomic_write_bytes(json.dumps(out, indent=1).encode(), osp.join(c.out, 'results.json'))
    print('\n'.join(report.console))
    print(f'\n[compare] {report.verdict}')
    if data.get('duplicates', {}).get('message'):  # said when the data were read, and again beside the numbers
        print(f'[compare] warning: {data["duplicates"]["message"]}')
    print(f'[compare] wrote {c.out}/report.md, results.json and {len(plots)} plots', flush=True)
    return out


def cli(argv: Sequence[str] | None = None) -> None:
    """Entry point: errors of the user's input end the program with their message, not a traceback."""
    try:
        main(argv)
    except (DataError, SettingsChanged, RuntimeError, FileNotFoundError, WeightsFileError) as err:
        sys.exit(f'[compare] {err}')
