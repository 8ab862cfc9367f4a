"""``tools/test.py`` / ``mixskd-test``: evaluate a checkpoint on a config's test set with MMEngine's Runner
(mixskd_mm / mmdet / mmseg configs)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mixskd_mm.engine import runner_setup
from mixskd_mm.utils.data_check import check_data_paths


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of ``tools/test.py``."""
    p = argparse.ArgumentParser(description='Test a checkpoint')
    p.add_argument('config')
    p.add_argument('checkpoint')
    runner_setup.add_common_args(p)
    return runner_setup.parse_cli(p, argv)


def main(argv: Sequence[str] | None = None) -> dict:
    """Test; returns the metrics. A wrong config, work dir, checkpoint or data folder ends the program with one
    ``error:`` line."""
    args = parse_args(argv)
    try:
        cfg = runner_setup.load_config(args.config, args.cfg_options, work_dir=args.work_dir,
                                       launcher=args.launcher)
        runner_setup.check_checkpoint(args.checkpoint, 'checkpoint')
        runner_setup.check_work_dir(cfg.work_dir)
        runner_setup.check_backbone_weights(cfg)
        cfg.load_from = args.checkpoint
        check_data_paths(cfg, splits=('test',))
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    metrics = runner_setup.build_runner(cfg).test()
    runner_setup.finish_distributed()
    return metrics


def cli(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``tools/test.py`` and ``mixskd-test``."""
    main(argv)
