import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from mixskd_mm.registry import DATASETS, MODELS


def _preprocessor():
    return MODELS.build(dict(type='ClsDataPreprocessor', mean=[125.3, 123.0, 113.9], std=[63.0, 62.1, 66.7]))


def test_pseudo_collate_then_preprocessor(cifar_root):
    init_default_scope('mixskd_mm')
    ds = DATASETS.build(dict(type='CIFAR100', data_root=cifar_root, split='train',
                             pipeline=[dict(type='RandomCrop', size=32, padding=4)]))
    batch = next(iter(DataLoader(ds, batch_size=2, collate_fn=pseudo_collate)))
    assert isinstance(batch['inputs'], list) and batch['data_samples'] == [0, 7]
    out = _preprocessor()(batch, training=True)
    assert out['inputs'].shape == (2, 3, 32, 32) and out['inputs'].dtype == torch.float32
    assert out['data_samples'].dtype == torch.long and out['data_samples'].tolist() == [0, 7]


def test_runner_built_dataloader_with_workers(cifar_root):
    init_default_scope('mixskd_mm')
    loader = Runner.build_dataloader(dict(
        batch_size=3, num_workers=2, persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='CIFAR100', data_root=cifar_root, pipeline=[dict(type='RandomHorizontalFlip')]),
    ), seed=0)
    batches = [_preprocessor()(batch) for batch in loader]
    assert [b['inputs'].shape[0] for b in batches] == [3, 3]
    assert torch.cat([b['data_samples'] for b in batches]).tolist() == [0, 7, 14, 21, 28, 35]
