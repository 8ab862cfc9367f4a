"""Evaluate a checkpoint on a config's test set with MMEngine's Runner (mixskd_mm / mmdet / mmseg).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mixskd_mm  # noqa: E402,F401
from mixskd_mm.engine import runner_setup  # noqa: E402
from mixskd_mm.utils.data_check import check_data_paths  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description='Test a checkpoint')
    p.add_argument('config')
    p.add_argument('checkpoint')
    runner_setup.add_common_args(p)
    args = runner_setup.parse_cli(p, argv)
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


if __name__ == '__main__':
    main()
