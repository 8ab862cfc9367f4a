"""``tools/convert_released_checkpoint.py`` / ``mixskd-convert-released``: convert a released MixSKD checkpoint (the
authors' Self-KD-Lib code) to our exported-backbone file.

The file is read weights-only; the output has timm key names and records the model, the stem variant and the
source (file, epoch, accuracy). See :mod:`mixskd_mm.export.released` for the layout.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mixskd_mm.export.released import ARCHS, Conversion, convert_released, summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of ``tools/convert_released_checkpoint.py``."""
    p = argparse.ArgumentParser(description='Convert a released Self-KD-Lib MixSKD checkpoint to a backbone file '
                                            '(timm key names)')
    p.add_argument('src', help="released checkpoint: a torch file {'net', 'acc', 'epoch', 'optimizer'}")
    p.add_argument('out', help='output file: .safetensors (recommended) or .pth')
    p.add_argument('--arch', default='auto', choices=sorted(ARCHS) + ['auto'],
                   help='released model; auto tells them apart by the stem conv (3x3: CIFAR, 7x7: ImageNet)')
    p.add_argument('--keep-classifier', action='store_true',
                   help='keep the backbone classifier fc.weight / fc.bias (dropped by default)')
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> Conversion:
    """Convert; returns what was converted. A wrong source or output ends the program with one ``error:`` line."""
    args = parse_args(argv)
    try:
        conv = convert_released(args.src, args.out, arch=args.arch, keep_classifier=args.keep_classifier)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    print(summary(conv))
    return conv


def cli(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``tools/convert_released_checkpoint.py`` and ``mixskd-convert-released``."""
    main(argv)
