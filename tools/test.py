"""Evaluate a checkpoint on a config's test set with MMEngine's Runner (mixskd_mm / mmdet / mmseg).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mixskd_mm  # noqa: E402,F401
from mixskd_mm.utils.config import add_common_args, build_runner, load_config, parse_cli  # noqa: E402
from mixskd_mm.utils.data_check import check_data_paths  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description='Test a checkpoint')
    p.add_argument('config')
    p.add_argument('checkpoint')
    add_common_args(p)
    args = parse_cli(p, argv)
    cfg = load_config(args.config, args.cfg_options, work_dir=args.work_dir, launcher=args.launcher)
    cfg.load_from = args.checkpoint
    check_data_paths(cfg, splits=('test',))
    return build_runner(cfg).test()


if __name__ == '__main__':
    main()
