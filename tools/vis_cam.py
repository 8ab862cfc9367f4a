"""Grad-CAM maps of a trained classifier's deployable model (backbone + classifier, its last stage).

    python tools/vis_cam.py CONFIG CHECKPOINT IMAGE... [--out DIR] [--target-class N]
    python tools/vis_cam.py TIMM_FOLDER IMAGE... [--out DIR] [--target-class N]
        # TIMM_FOLDER: what tools/export_backbone.py CHECKPOINT DIR --format timm writes

Writes DIR/<image>_cam.png per image and prints each prediction. The code is :mod:`mixskd_mm.cli.vis_cam`,
installed as the console script ``mixskd-vis-cam`` too.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

# main: the tests run it in-process
from mixskd_mm.cli.vis_cam import cli, main  # noqa: F401

if __name__ == '__main__':
    cli()
