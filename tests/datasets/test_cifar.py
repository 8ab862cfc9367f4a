import os
import pickle

import pytest
import torch
from mmengine.registry import init_default_scope

from mixskd_mm.registry import DATASETS


def _build(**kwargs):
    init_default_scope('mixskd_mm')
    return DATASETS.build(dict(type='CIFAR100', **kwargs))


def test_items_shapes_labels_and_channel_layout(cifar_root):
    ds = _build(data_root=cifar_root, split='train')
    assert len(ds) == 6 and ds.num_classes == 100 and ds.metainfo['classes'][3] == 'class_3'
    item = ds[2]
    assert set(item) == {'inputs', 'data_samples'}
    assert item['inputs'].shape == (3, 32, 32) and item['inputs'].dtype == torch.uint8
    assert item['inputs'][:, 5, 7].tolist() == [2, 102, 202]  # R, G and B planes in that order
    assert item['data_samples'] == 14 and type(item['data_samples']) is int
    assert len(_build(data_root=cifar_root, split='test')) == 4


def test_pipeline_is_applied(cifar_root):
    ds = _build(data_root=cifar_root, pipeline=[dict(type='RandomCrop', size=24), dict(type='RandomHorizontalFlip')])
    out = ds[0]['inputs']
    assert out.shape == (3, 24, 24) and out.dtype == torch.uint8


def test_missing_folder_names_path_and_layout(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        _build(data_root=str(tmp_path / 'nowhere'))
    message = str(err.value)
    assert os.path.join(str(tmp_path / 'nowhere'), 'cifar-100-python') in message
    assert 'cifar-100-python/meta' in message and 'cifar-100-python.tar.gz' in message


def test_missing_split_file(cifar_root):
    os.remove(os.path.join(cifar_root, 'cifar-100-python', 'test'))
    with pytest.raises(FileNotFoundError, match='cifar-100-python/test'):
        _build(data_root=cifar_root, split='test')


def test_bad_split(cifar_root):
    with pytest.raises(ValueError, match='split'):
        _build(data_root=cifar_root, split='val')


def test_malicious_pickle_is_refused(cifar_root, tmp_path):
    marker = tmp_path / 'pwned'

    class Evil:
        def __reduce__(self):
            return os.system, (f'touch {marker}',)

    with open(os.path.join(cifar_root, 'cifar-100-python', 'train'), 'wb') as f:
        pickle.dump({b'data': Evil(), b'fine_labels': []}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match='posix.system|os.system'):
        _build(data_root=cifar_root)
    assert not marker.exists()


def test_scoped_name_from_mmengine_root_registry(cifar_root):
    from mmengine.registry import DATASETS as ROOT_DATASETS

    init_default_scope('mmengine')
    ds = ROOT_DATASETS.build(dict(type='mixskd_mm.CIFAR100', data_root=cifar_root, split='test'))
    assert type(ds).__name__ == 'CIFAR100' and len(ds) == 4
