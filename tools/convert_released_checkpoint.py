"""Convert a released MixSKD checkpoint (the authors' Self-KD-Lib code) to our exported-backbone file.

    python tools/convert_released_checkpoint.py MixSKD_CIFAR_ResNet18_best.pth.tar r18_cifar.safetensors
    python tools/convert_released_checkpoint.py MixSKD_ImageNet_ResNet50_best.pth.tar r50.safetensors \
        [--arch cifar-resnet18|imagenet-resnet50|auto] [--keep-classifier]

The file is read weights-only; the output has timm key names and records the model, the stem variant and the
source (file, epoch, accuracy). See mixskd_mm/export/released.py for the layout. The code is
:mod:`mixskd_mm.cli.convert_released_checkpoint`, installed as the console script ``mixskd-convert-released`` too.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

# main: the tests run it in-process
from mixskd_mm.cli.convert_released_checkpoint import cli, main  # noqa: F401

if __name__ == '__main__':
    cli()
