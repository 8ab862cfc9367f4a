"""`make demo`: tools/compare.py on the embedded real data (Fashion-MNIST), with detection and segmentation transfer.

    python tools/demo.py [--out outputs/demo] [--seeds 0 1] [--epochs 10] [--per-class 400] [--jobs 2] [--quick]

What it does, step by step: :mod:`mixskd_mm.cli.demo`, installed as the console script ``mixskd-demo`` too.
Rerunning with the same ``--out`` resumes.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

# main, parse_args and compare_argv: the tests run them in-process
from mixskd_mm.cli.demo import cli, compare_argv, main, parse_args  # noqa: F401

if __name__ == '__main__':
    cli()
