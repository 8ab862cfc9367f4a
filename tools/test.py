"""Evaluate a checkpoint on a config's test set with MMEngine's Runner (mixskd_mm / mmdet / mmseg).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]

The code is :mod:`mixskd_mm.cli.test`, installed as the console script ``mixskd-test`` too.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

# main: the tests run it in-process
from mixskd_mm.cli.test import cli, main  # noqa: F401

if __name__ == '__main__':
    cli()
