"""Train or evaluate a Detectron2 config with the timm backbone registered (Detectron2's usual options).

    python tools/d2_train.py --config-file CONFIG [--num-gpus N] [--resume] [--eval-only] [KEY VALUE ...]

The code is :mod:`mixskd_mm.cli.d2_train` (and :mod:`mixskd_mm.detectron2.train`).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mixskd_mm.cli.d2_train import cli

if __name__ == '__main__':
    cli()
