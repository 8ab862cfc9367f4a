"""Train any mixskd_mm, MMDetection or MMSegmentation config with MMEngine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|CKPT]] [--amp] [--malloc pinned|default]
                                 [--cfg-options k=v ...]
    bash tools/dist_train.sh CONFIG GPUS [...]          # torchrun, one process per GPU

The config's ``default_scope`` (``mixskd_mm``, ``mmdet`` or ``mmseg``) decides which registries are used. The code
is :mod:`mixskd_mm.cli.train`, installed as the console script ``mixskd-train`` too.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

# main: the tests run it in-process
from mixskd_mm.cli.train import cli, main  # noqa: F401

if __name__ == '__main__':
    cli()
