"""CIFAR-100 from the official python-pickle release, loaded without executing pickle code."""
import os
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import torch

from mixskd_mm.registry import DATASETS

from ._base import BaseClsDataset
from ._safe_pickle import restricted_load

_LAYOUT = """expected layout:
    {root}/cifar-100-python/train   (pickle: b'data' uint8 [50000, 3072], b'fine_labels')
    {root}/cifar-100-python/test    (pickle: b'data' uint8 [10000, 3072], b'fine_labels')
    {root}/cifar-100-python/meta    (pickle: b'fine_label_names')
Get it from https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and unpack it inside {root}
(this package never downloads data)."""


def _load_pickle(path: str) -> dict[str, Any]:
    """Load a CIFAR pickle safely and make its keys ``str`` (they are ``bytes`` in Python-3-written files)."""
    if not os.path.isfile(path):
        root = os.path.dirname(os.path.dirname(path))
        raise FileNotFoundError(f'CIFAR-100 file not found: {path}\n' + _LAYOUT.format(root=root))
    with open(path, 'rb') as f:
        content = restricted_load(f, encoding='latin1')
    if not isinstance(content, dict):
        raise ValueError(f'{path}: expected a pickled dict, got {type(content).__name__}')
    return {key.decode('latin1') if isinstance(key, bytes) else key: value for key, value in content.items()}


@DATASETS.register_module()
class CIFAR100(BaseClsDataset):
    """CIFAR-100 (fine labels) read from ``{data_root}/cifar-100-python/{train,test,meta}``.

    The pickles are read with a restricted unpickler that only accepts numpy arrays and plain containers, so a
    tampered file cannot run code. Images are kept in memory as one uint8 tensor (150 MB for the train split).

    Args:
        data_root: The folder that holds ``cifar-100-python/`` (mm's ``data/cifar100``).
        split: ``'train'`` (50,000 images) or ``'test'`` (10,000 images).
        pipeline: Transform configs applied to each uint8 ``Tensor[3, 32, 32]``.

    Raises:
        FileNotFoundError: if a file is missing; the message names it, the expected layout and where to get it.

    Example:
        >>> from mmengine.registry import init_default_scope
        >>> from mixskd_mm.registry import DATASETS
        >>> init_default_scope('mixskd_mm')
        >>> ds = DATASETS.build(dict(type='CIFAR100', data_root='data/cifar100', split='test'))  # doctest: +SKIP
        >>> ds[0]['inputs'].shape, ds.num_classes  # doctest: +SKIP
        (torch.Size([3, 32, 32]), 100)
    """

    def __init__(self, data_root: str, split: str = 'train', pipeline: Optional[Sequence[dict]] = None) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"CIFAR100 split must be 'train' or 'test', got {split!r}")
        folder = os.path.join(data_root, 'cifar-100-python')
        if not os.path.isdir(folder):
            raise FileNotFoundError(f'CIFAR-100 folder not found: {folder}\n' + _LAYOUT.format(root=data_root))
        meta = _load_pickle(os.path.join(folder, 'meta'))
        names = [n.decode('latin1') if isinstance(n, bytes) else str(n) for n in meta['fine_label_names']]
        super().__init__(classes=names, pipeline=pipeline, split=split)
        path = os.path.join(folder, split)
        batch = _load_pickle(path)
        data = np.asarray(batch['data'], dtype=np.uint8)
        labels = np.asarray(batch['fine_labels'], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
            raise ValueError(f'{path}: expected data [N, 3072] and N labels, got {data.shape} and {len(labels)}')
        if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
            raise ValueError(f'{path}: labels outside [0, {len(names)})')
        # Each row is the red, then green, then blue 32x32 plane: it reshapes straight to CHW.
        self.images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
        self.labels = torch.from_numpy(labels)

    def load_image(self, index: int) -> torch.Tensor:
        """Return image ``index`` as uint8 ``Tensor[3, 32, 32]`` (RGB).

        Args:
            index: Sample index.

        Returns:
            The image.
        """
        # A copy, so a DataLoader worker never ships the whole backing tensor through shared memory.
        return self.images[index].clone()
