"""Evaluate a checkpoint on a config's test set with MMEngine's Runner (mixskd_mm / mmdet / mmseg).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mixskd_mm  # noqa: E402,F401
from mixskd_mm.utils import config as config_utils  # noqa: E402
from mixskd_mm.utils.data_check import check_data_paths  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description='Test a checkpoint')
    p.add_argument('config')
    p.add_argument('checkpoint')
    config_utils.add_common_args(p)
    args = config_utils.parse_cli(p, argv)
    cfg = config_utils.load_config(args.config, args.cfg_options, work_dir=args.work_dir, launcher=args.launcher)
    cfg.load_from = args.checkpoint
    check_data_paths(cfg, splits=('test',))
    metrics = config_utils.build_runner(cfg).test()
    config_utils.finish_distributed()
    return metrics


if __name__ == '__main__':
    main()
