"""Tiny datasets written in their real on-disk formats, for the dataset tests."""
import gzip
import os
import pickle
import struct
from typing import Callable

import numpy as np
import pytest
import torch
from torchvision.io import encode_jpeg, encode_png

CIFAR_CLASSES = [f'class_{i}'.encode() for i in range(100)]


def _write_idx(path: str, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (magic 0x0000 08 ndim, big-endian dims), gzipped if path ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f'>{array.ndim}I', *array.shape)
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture
def write_idx() -> Callable[[str, np.ndarray], None]:
    """The IDX writer."""
    return _write_idx


@pytest.fixture
def cifar_root(tmp_path) -> str:
    """A cifar-100-python folder: 6 train and 4 test images, pickled like the release (protocol 2, bytes keys).

    Train image i has the constant planes R=i, G=100+i, B=200+i and label 7*i (mod 100).
    """
    folder = tmp_path / 'cifar-100-python'
    folder.mkdir()
    for split, num in (('train', 6), ('test', 4)):
        planes = [np.full((num, 1024), offset, dtype=np.uint8) + np.arange(num, dtype=np.uint8)[:, None]
                  for offset in (0, 100, 200)]
        batch = {b'batch_label': f'{split} batch'.encode(), b'data': np.concatenate(planes, axis=1),
                 b'fine_labels': [(7 * i) % 100 for i in range(num)], b'coarse_labels': [0] * num,
                 b'filenames': [f'img_{i}.png'.encode() for i in range(num)]}
        with open(folder / split, 'wb') as f:
            pickle.dump(batch, f, protocol=2)
    with open(folder / 'meta', 'wb') as f:
        pickle.dump({b'fine_label_names': CIFAR_CLASSES, b'coarse_label_names': [b'c'] * 20}, f, protocol=2)
    return str(tmp_path)


@pytest.fixture
def imagenet_root(tmp_path) -> str:
    """An ImageFolder tree ``train/{cat,dog,fish}`` with real JPEG and PNG files of different sizes."""
    sizes = {'cat': [(20, 30), (24, 24)], 'dog': [(18, 40)], 'fish': [(32, 16), (16, 16)]}
    for label, (name, shapes) in enumerate(sorted(sizes.items())):
        os.makedirs(tmp_path / 'train' / name)
        for i, (h, w) in enumerate(shapes):
            image = torch.full((3, h, w), 40 * label + 10, dtype=torch.uint8)
            encoded = encode_jpeg(image, quality=95) if i == 0 else encode_png(image)
            suffix = '.JPEG' if i == 0 else '.png'
            (tmp_path / 'train' / name / f'{name}_{i}{suffix}').write_bytes(encoded.numpy().tobytes())
    (tmp_path / 'train' / 'cat' / 'notes.txt').write_text('not an image')
    return str(tmp_path)
