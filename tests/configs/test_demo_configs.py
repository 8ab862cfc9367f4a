"""Every config in configs/demo/ matches the composed data it is written for, and trains 2 iterations + evaluates
through tools/train.py on a few composed scenes, from an exported test_resnet backbone."""
import glob
import json
import os
import re

import pytest
import torch
from _helpers import ROOT, run_tool
from mmengine.config import Config

from mixskd_mm.datasets.fashion_mnist import FASHION_CLASSES
from mixskd_mm.datasets.scenes import DEFAULT_CLASS_IDS, write_composed_dataset

CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'demo', '*.py')))
PRETRAIN = os.path.join(ROOT, 'configs', 'mixskd', 'mixskd_test-resnet_1xb64-10e_fashion-mnist.py')
CLASSES = tuple(FASHION_CLASSES[c] for c in DEFAULT_CLASS_IDS)


def _kind(config):
    return 'detection' if Config.fromfile(config).default_scope == 'mmdet' else 'segmentation'


@pytest.fixture(scope='module')
def composed_root(tmp_path_factory, fake_fashion_mnist):
    """4 train / 2 val scenes from the fake Fashion-MNIST's training images outside a 2-per-class subset."""
    out = tmp_path_factory.mktemp('composed')
    write_composed_dataset(str(out), data_root=fake_fashion_mnist, num_per_class=2, num_train=4, num_val=2)
    return str(out)


@pytest.fixture(scope='module')
def backbone_file(tmp_path_factory):
    """A randomly initialised test_resnet TimmStageBackbone, exported as tools/export_backbone.py does."""
    from mixskd_mm.export.backbone_file import save_backbone
    from mixskd_mm.models.backbones import TimmStageBackbone
    torch.manual_seed(0)
    backbone = TimmStageBackbone('test_resnet', out_indices=(1, 2, 3, 4))
    path = str(tmp_path_factory.mktemp('backbone') / 'test_resnet.safetensors')
    save_backbone(backbone.state_dict(), path, backbone.export_metadata())
    return path


def test_both_tasks_are_covered():
    assert sorted(_kind(c) for c in CONFIGS) == ['detection', 'segmentation']


@pytest.mark.parametrize('config', CONFIGS, ids=os.path.basename)
def test_config_matches_the_composed_data_and_the_pretraining(config):
    cfg = Config.fromfile(config)
    pretrain = Config.fromfile(PRETRAIN)
    backbone = cfg.model.backbone
    assert backbone.type == 'mixskd_mm.TimmStageBackbone' and backbone.model_name == 'test_resnet'
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=cfg.backbone_checkpoint)
    assert list(cfg.model.data_preprocessor.mean) == list(pretrain.data_preprocessor.mean)
    assert list(cfg.model.data_preprocessor.std) == list(pretrain.data_preprocessor.std)
    from mixskd_mm.models.backbones import TimmStageBackbone
    channels = TimmStageBackbone('test_resnet', out_indices=backbone.out_indices).out_channels
    assert cfg.model.neck.in_channels == channels == [32, 48, 192, 96]
    if _kind(config) == 'detection':
        assert cfg.classes == CLASSES and cfg.model.bbox_head.num_classes == len(CLASSES)
        for split in ('train', 'val', 'test'):
            assert cfg[f'{split}_dataloader'].dataset.metainfo.classes == CLASSES
        assert cfg.val_evaluator.type == 'CocoMetric' and cfg.val_evaluator.metric == 'bbox'
    else:
        assert cfg.model.pretrained is None
        assert cfg.model.decode_head.in_channels == [cfg.model.neck.out_channels] * len(channels)
        assert cfg.classes == ('background', *CLASSES) and cfg.model.decode_head.num_classes == len(cfg.classes)
        assert len(cfg.palette) == len(cfg.classes)
        assert cfg.val_evaluator == dict(type='IoUMetric', iou_metrics=['mIoU'])
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.val_interval == cfg.train_cfg.max_iters


@pytest.mark.parametrize('config', CONFIGS, ids=os.path.basename)
def test_config_trains_two_iterations_and_evaluates(config, tmp_path, composed_root, backbone_file):
    kind = _kind(config)
    opts = [f'model.backbone.init_cfg.checkpoint={backbone_file}', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2']
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.dataset.data_root={composed_root}/', f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
        if kind == 'detection':
            opts.append(f'{split}_evaluator.ann_file={composed_root}/annotations/instances_val.json')
    if kind == 'detection':  # an untrained head scores below the 0.05 threshold: keep its boxes so AP is computed
        opts.append('model.test_cfg.score_thr=0.0')
    proc = run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options', *opts,
                    env={'OMP_NUM_THREADS': '1'})
    found = re.findall(r'loaded \S+\.safetensors: (\d+)/(\d+) tensors matched', proc.stdout + proc.stderr)
    assert found and found[-1][0] == found[-1][1], 'the exported backbone was not loaded in full'
    logs = sorted(glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json')))
    records = [json.loads(line) for line in open(logs[-1])]
    assert [r['iter'] for r in records if 'loss' in r] == [1, 2]
    metric = 'coco/bbox_mAP' if kind == 'detection' else 'mIoU'
    values = [r[metric] for r in records if metric in r]
    assert len(values) == 1 and 0 <= values[0] <= 100
    assert os.path.isfile(tmp_path / 'iter_2.pth')
