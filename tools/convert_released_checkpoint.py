"""Convert a released MixSKD checkpoint (the authors' Self-KD-Lib code) to our exported-backbone file.

    python tools/convert_released_checkpoint.py MixSKD_CIFAR_ResNet18_best.pth.tar r18_cifar.safetensors
    python tools/convert_released_checkpoint.py MixSKD_ImageNet_ResNet50_best.pth.tar r50.safetensors \
        [--arch cifar-resnet18|imagenet-resnet50|auto] [--keep-classifier]

The file is read weights-only; the output has timm key names and records the model, the stem variant and the
source (file, epoch, accuracy). See mixskd_mm/export/released.py for the layout.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mixskd_mm  # noqa: E402,F401
from mixskd_mm.export.released import ARCHS, convert_released, summary  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description='Convert a released Self-KD-Lib MixSKD checkpoint to a backbone file '
                                            '(timm key names)')
    p.add_argument('src', help="released checkpoint: a torch file {'net', 'acc', 'epoch', 'optimizer'}")
    p.add_argument('out', help='output file: .safetensors (recommended) or .pth')
    p.add_argument('--arch', default='auto', choices=sorted(ARCHS) + ['auto'],
                   help='released model; auto tells them apart by the stem conv (3x3: CIFAR, 7x7: ImageNet)')
    p.add_argument('--keep-classifier', action='store_true',
                   help='keep the backbone classifier fc.weight / fc.bias (dropped by default)')
    args = p.parse_args(argv)
    try:
        conv = convert_released(args.src, args.out, arch=args.arch, keep_classifier=args.keep_classifier)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    print(summary(conv))
    return conv


if __name__ == '__main__':
    main()
