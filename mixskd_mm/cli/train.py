"""``tools/train.py`` / ``mixskd-train``: train any mixskd_mm, MMDetection or MMSegmentation config with MMEngine's
Runner.

The config's ``default_scope`` (``mixskd_mm``, ``mmdet`` or ``mmseg``) decides which registries are used.
At start-up glibc's allocator is pinned (``--malloc pinned``, :func:`mixskd_mm.engine.cpu_perf.set_malloc`): big
buffers come from the heap instead of a fresh mmap each time, which saves MixSKD steps on CPUs their page faults.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mmengine.config import Config

from mixskd_mm.engine import runner_setup
from mixskd_mm.engine.cpu_perf import MALLOC_MODES, set_malloc
from mixskd_mm.utils.data_check import check_data_paths


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of ``tools/train.py``."""
    p = argparse.ArgumentParser(description='Train a model (mixskd_mm / mmdet / mmseg config)')
    p.add_argument('config', help='config file')
    p.add_argument('--resume', nargs='?', const='auto', default=None, metavar='auto|CKPT',
                   help='resume from CKPT, or with no value (or "auto") from the latest checkpoint in work-dir')
    p.add_argument('--amp', action='store_true',
                   help='mixed precision: fp16 on a GPU, bf16 on a CPU with native bf16 (AVX-512 BF16 or AMX)')
    p.add_argument('--malloc', choices=MALLOC_MODES, default='pinned',
                   help="glibc allocator: 'pinned' (default) serves big buffers from the heap and keeps freed memory; "
                        "'default' leaves glibc's behaviour (a fresh mmap for every buffer of 32 MiB or more)")
    runner_setup.add_common_args(p)
    return runner_setup.parse_cli(p, argv)


def prepare_config(args: argparse.Namespace) -> Config:
    """The config of the run, every file and folder it names checked first.

    Raises:
        FileNotFoundError, ValueError: a missing or wrong config, work dir, checkpoint or data folder, with its path.
    """
    cfg = runner_setup.load_config(args.config, args.cfg_options, work_dir=args.work_dir, launcher=args.launcher)
    runner_setup.check_work_dir(cfg.work_dir)
    runner_setup.add_safety_hooks(cfg)
    runner_setup.per_rank_seeds(cfg)  # distributed: each process draws its own lam and permutation
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    runner_setup.check_checkpoint(cfg.get('load_from'), '--resume checkpoint' if args.resume else 'load_from')
    runner_setup.check_backbone_weights(cfg)
    check_data_paths(cfg, splits=('train', 'val'))
    return cfg


def main(argv: Sequence[str] | None = None) -> None:
    """Train; a wrong config, work dir, checkpoint or data folder ends the program with one ``error:`` line."""
    args = parse_args(argv)
    malloc_set = set_malloc(args.malloc)  # before the first big allocation
    try:
        cfg = prepare_config(args)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    if args.amp:
        runner_setup.enable_amp(cfg)
    runner = runner_setup.build_runner(cfg)
    runner.logger.info(f'glibc allocator: {args.malloc}' + ('' if malloc_set else ' (not set: no glibc here)'))
    runner.train()
    runner_setup.finish_distributed()


def cli(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``tools/train.py`` and ``mixskd-train``."""
    main(argv)
