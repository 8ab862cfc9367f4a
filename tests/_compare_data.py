"""A tiny class-folder dataset of real images for the tools/compare.py tests, and running the tool."""
import os
import struct

import numpy as np
from _helpers import run_tool
from PIL import Image

CLASSES = {0: 'shirt top', 1: 'trouser', 9: 'ankle boot'}  # a space in a name on purpose
MODES = ('L', 'RGB', 'RGBA', 'P')
#: every method tools/compare.py has
METHODS = 'ce,mixup,cutmix,mixskd,mixskd-conv'
TINY = ['--init', 'scratch', '--model', 'test_resnet', '--epochs', '1', '--batch', '8', '--no-progress', '--jobs', '1',
        '--no-robustness']  # the evaluation under corruptions: one more process per run, tested on conftest's `both`


#: TINY without its start, for the comparisons that name their own (--init)
NO_INIT = [a for a in TINY if a not in ('--init', 'scratch')]
#: NO_INIT with the evaluation under corruptions (conftest's shared comparison)
ROBUST_NO_INIT = [a for a in NO_INIT if a != '--no-robustness']


def write_class_folders(root, per_class=(12, 4), seed=0, splits=('train', 'test')):
    """Real Fashion-MNIST (or MNIST-5k) images of 3 classes as PNGs of several sizes and modes."""
    from mixskd_mm.datasets import FashionMNIST
    ds = FashionMNIST(split='train')
    images, labels = ds.images[:, 0].numpy(), ds.labels.numpy()
    rng = np.random.default_rng(seed)
    for split, count in zip(splits, per_class):
        offset = 0 if split == 'train' else 200
        for c, name in CLASSES.items():
            os.makedirs(root / split / name, exist_ok=True)
            for j, i in enumerate(np.flatnonzero(labels == c)[offset:offset + count]):
                img = Image.fromarray(images[i]).resize((int(rng.integers(24, 48)),) * 2)
                mode = MODES[j % len(MODES)]
                img = img.convert('RGB').convert('P') if mode == 'P' else img.convert(mode)
                img.save(root / split / name / f'{j}.png')
    return root


def png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG'
    return struct.unpack('>II', head[16:24])


def compare(*args, timeout=1200, check=True):
    return run_tool('tools/compare.py', *args, timeout=timeout, check=check)


