import numpy as np
import pytest

from mixskd_mm.datasets.sampling import balanced_subset, stratified_split


def test_balanced_subset_counts_and_seed():
    labels = np.repeat(np.arange(4), 10)
    picked = balanced_subset(labels, 3, seed=5)
    assert np.bincount(labels[picked]).tolist() == [3, 3, 3, 3]
    assert np.array_equal(picked, balanced_subset(labels, 3, seed=5))
    assert np.array_equal(picked, np.sort(picked))
    with pytest.raises(ValueError):
        balanced_subset(labels, 0)


def test_stratified_split_partitions():
    labels = np.repeat(np.arange(3), 10)
    train, test = stratified_split(labels, 0.2, seed=0)
    assert np.bincount(labels[test]).tolist() == [2, 2, 2]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(30))
