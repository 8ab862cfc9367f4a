"""Does MixSKD pay off on *your* data? Compare CE, Mixup, CutMix and MixSKD pretraining on your own images.

    python tools/compare.py --data DIR [--out outputs/compare] [--model resnet18] [--epochs 30] [--seeds 0 1 2]
                            [--methods ce,mixup,cutmix,mixskd] [--sweep model.alpha=0.2,0.4,1.0]
                            [--det-config CFG | --det-data COCO_DIR] [--seg-config CFG | --seg-data MMSEG_DIR]
                            [--jobs N | --gpus 0,1] [--print-commands] [--collect]

Every run is ``tools/train.py`` (then ``tools/test.py`` on the test split) on a config file written into its work
directory under ``--out``; rerunning with the same ``--out`` skips finished runs and resumes the others. The report
(``report.md``, ``results.json``, PNG plots) is computed from the runs' own files. The code lives in
``mixskd_mm/compare/``; :func:`mixskd_mm.compare.cli.cli` is installed as the console script ``mixskd-compare`` too.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

from mixskd_mm.compare.cli import cli

if __name__ == '__main__':
    cli()
