"""Train any mixskd_mm, MMDetection or MMSegmentation config with MMEngine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|CKPT]] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG GPUS [...]          # torchrun, one process per GPU

The config's ``default_scope`` (``mixskd_mm``, ``mmdet`` or ``mmseg``) decides which registries are used.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import mixskd_mm  # noqa: E402,F401  (weights-only loading of mmengine checkpoints)
from mixskd_mm.utils import config as config_utils  # noqa: E402
from mixskd_mm.utils.data_check import check_data_paths  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train a model (mixskd_mm / mmdet / mmseg config)')
    p.add_argument('config', help='config file')
    p.add_argument('--resume', nargs='?', const='auto', default=None, metavar='auto|CKPT',
                   help='resume from CKPT, or with no value (or "auto") from the latest checkpoint in work-dir')
    p.add_argument('--amp', action='store_true', help='automatic mixed precision (needs a GPU)')
    config_utils.add_common_args(p)
    return config_utils.parse_cli(p, argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = config_utils.load_config(args.config, args.cfg_options, work_dir=args.work_dir, launcher=args.launcher)
    config_utils.add_safety_hooks(cfg)
    config_utils.per_rank_seeds(cfg)  # distributed: each process draws its own lam and permutation
    check_data_paths(cfg, splits=('train', 'val'))
    if args.amp:
        config_utils.enable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    config_utils.build_runner(cfg).train()
    config_utils.finish_distributed()


if __name__ == '__main__':
    main()
