"""Seeded, class-balanced index selection: the small real-data datasets' subsets and splits.

Public: :class:`~mixskd_mm.datasets.FashionMNIST` picks its training subset with :func:`balanced_subset`, and the
comparison's embedded data (``mixskd_mm.compare.sources``) and the demo's scenes (:mod:`mixskd_mm.datasets.scenes`)
repeat that call to know which images the subset holds.
"""

import numpy as np


def balanced_subset(labels: np.ndarray, num_per_class: int, seed: int = 0) -> np.ndarray:
    """Pick ``num_per_class`` indices of every class, at random but reproducibly.

    Args:
        labels: Integer labels, shape ``[N]``.
        num_per_class: How many samples to keep per class.
        seed: Seed of the numpy generator that chooses them.

    Returns:
        The chosen indices, sorted ascending.

    Raises:
        ValueError: if ``num_per_class`` is not positive or a class has fewer samples.

    Example:
        >>> balanced_subset(np.array([0, 0, 0, 1, 1, 1]), 2, seed=0).size
        4
    """
    if num_per_class <= 0:
        raise ValueError(f'num_per_class must be positive, got {num_per_class}')
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if members.size < num_per_class:
            raise ValueError(f'Class {cls} has {members.size} samples, fewer than num_per_class={num_per_class}')
        chosen.append(rng.choice(members, size=num_per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into train and test parts with the same class proportions, reproducibly.

    Args:
        labels: Integer labels, shape ``[N]``.
        test_fraction: Fraction of every class that goes to the test part (rounded per class).
        seed: Seed of the numpy generator that shuffles each class.

    Returns:
        ``(train_indices, test_indices)``, each sorted ascending; together they cover every index once.

    Example:
        >>> train, test = stratified_split(np.repeat(np.arange(2), 5), 0.2)
        >>> train.size, test.size
        (8, 2)
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f'test_fraction must lie in (0, 1), got {test_fraction}')
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        num_test = int(round(members.size * test_fraction))
        test.append(members[:num_test])
        train.append(members[num_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
