"""Train any mixskd_mm, MMDetection or MMSegmentation config with MMEngine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|CKPT]] [--amp] [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG GPUS [...]          # torchrun, one process per GPU

The config's ``default_scope`` (``mixskd_mm``, ``mmdet`` or ``mmseg``) decides which registries are used.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

import mixskd_mm  # noqa: E402,F401  (weights-only loading of mmengine checkpoints)
from mixskd_mm.utils.config import add_safety_hooks, load_config  # noqa: E402
from mixskd_mm.utils.data_check import check_data_paths  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train a model (mixskd_mm / mmdet / mmseg config)')
    p.add_argument('config', help='config file')
    p.add_argument('--work-dir', help='folder for logs and checkpoints (default: work_dirs/CONFIG_NAME)')
    p.add_argument('--resume', nargs='?', const='auto', default=None, metavar='auto|CKPT',
                   help='resume from CKPT, or with no value (or "auto") from the latest checkpoint in work-dir')
    p.add_argument('--amp', action='store_true', help='automatic mixed precision (needs a GPU)')
    p.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', help='override config entries, mm style')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='job launcher')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, work_dir=args.work_dir, launcher=args.launcher)
    add_safety_hooks(cfg)
    check_data_paths(cfg, splits=('train', 'val'))
    if args.amp:
        from mixskd_mm.utils.config import enable_amp
        enable_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
