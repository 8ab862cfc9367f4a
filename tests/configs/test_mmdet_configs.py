"""Every detection config in configs/mmdet/ trains 2 iterations and evaluates through tools/train.py, on tiny
COCO / Pascal VOC data in their real layouts (pycocotools' bbox mAP, mmdet's VOC mAP); and the README's paste-in
lines turn mmdet's own Faster R-CNN config into one that trains on the exported backbone.
"""
import glob
import math
import os

import pytest
import torch
from _helpers import ROOT, run_tool
from _transfer_data import (
    ONE_THREAD,
    backbone_load_report,
    cpu_options,
    dataset_root,
    one_torch_thread,
    resnet50_backbone_file,
    scalars,
    walk_dicts,
)
from mmengine.config import Config

CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'mmdet', '*.py')))
README = os.path.join(ROOT, 'README.md')
README_SECTION = 'Use a MixSKD backbone in your own mmdet/mmseg config'

#: what the README tells users to paste into an mmdet config (ResNet-50 detectors with an FPN neck)
MMDET_LINES = """\
model = dict(
    backbone=dict(
        _delete_=True,
        type='mixskd_mm.TimmStageBackbone',
        model_name='resnet50',
        out_indices=(1, 2, 3, 4),
        frozen_stages=1,
        norm_eval=True,
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint='work_dirs/mixskd_resnet50_8xb16_in1k/backbone.safetensors')),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
"""


@pytest.fixture(scope='module')
def backbone_file(tmp_path_factory):
    return resnet50_backbone_file(tmp_path_factory)


def _data(config, tmp_path_factory):
    name = os.path.basename(config)
    if 'voc0712' in name:
        return dataset_root(tmp_path_factory, 'voc_det'), 'pascal_voc/mAP'
    if name.endswith('_coco.py'):
        return dataset_root(tmp_path_factory, 'coco'), 'coco/bbox_mAP'
    pytest.fail(f'no tiny dataset known for {name}; add one to tests/_transfer_data.py')


def test_every_config_is_covered():
    names = {os.path.basename(c) for c in CONFIGS}
    assert {'cascade-rcnn_mixskd-r50_fpn_1x_coco.py', 'faster-rcnn_mixskd-r50_fpn_1x_coco.py',
            'retinanet_mixskd-r50_fpn_1x_coco.py', 'faster-rcnn_mixskd-r50_fpn_1x_voc0712.py'} <= names


@pytest.mark.parametrize('config', CONFIGS, ids=os.path.basename)
def test_config_trains_two_iterations_and_evaluates(config, tmp_path, tmp_path_factory, backbone_file):
    cfg = Config.fromfile(config).to_dict()
    assert cfg['default_scope'] == 'mmdet'
    backbone = cfg['model']['backbone']
    assert backbone['type'] == 'mixskd_mm.TimmStageBackbone' and backbone['model_name'] == 'resnet50'
    assert backbone['out_indices'] == (1, 2, 3, 4) and backbone['frozen_stages'] == 1 and backbone['norm_eval']
    assert backbone['init_cfg'] == dict(type='Pretrained', checkpoint=cfg['backbone_checkpoint'])
    assert cfg['model']['neck']['in_channels'] == [256, 512, 1024, 2048]

    data_root, metric = _data(config, tmp_path_factory)
    opts = cpu_options(cfg, data_root, backbone_file)
    # one epoch of 4 images in batches of 2, then one evaluation; no checkpoint (hundreds of MB each)
    opts += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.checkpoint=None']
    # an untrained head scores every class below the 0.05 threshold: keep its boxes so the metric ranks some
    opts += [f'{path}.score_thr=0' for path, node in walk_dicts(cfg['model']['test_cfg'], 'model.test_cfg')
             if 'score_thr' in node]
    proc = run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options', *opts, env=ONE_THREAD)

    matched, total = backbone_load_report(proc.stdout + proc.stderr)
    assert matched == total > 300  # every tensor of the ResNet-50 came from the file
    records = scalars(tmp_path)
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == [1, 2] and all(math.isfinite(r['loss']) for r in train)
    evals = [r for r in records if metric in r]
    assert len(evals) == 1 and 0 <= evals[0][metric] <= 1


def test_readme_lines_train_mmdets_own_faster_rcnn(tmp_path, tmp_path_factory, backbone_file):
    """mmdet's faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py + the README lines: weights loaded, one training step."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from safetensors.torch import load_file

    from mixskd_mm.engine.runner_setup import parse_cfg_options
    path = tmp_path / 'my_faster_rcnn.py'
    path.write_text("_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'\n\n" + MMDET_LINES)
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.init_cfg.checkpoint.endswith('backbone.safetensors')
    data_root = dataset_root(tmp_path_factory, 'coco')
    cfg.merge_from_dict(parse_cfg_options(cpu_options(cfg.to_dict(), data_root, backbone_file)))

    with one_torch_thread(), DefaultScope.overwrite_default_scope('mmdet'):
        from mmdet.registry import MODELS
        model = MODELS.build(cfg.model)
        model.init_weights()
        saved, own = load_file(backbone_file), model.backbone.state_dict()
        assert set(own) == set(saved) and all(torch.equal(own[k], saved[k]) for k in own)
        batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        before = {n: p.detach().clone() for n, p in model.backbone.named_parameters()}
        model.train()
        losses = model.train_step(batch, optim_wrapper)
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    after = dict(model.backbone.named_parameters())
    assert not torch.equal(after['layer4.0.conv1.weight'], before['layer4.0.conv1.weight'])  # trained
    assert torch.equal(after['layer1.0.conv1.weight'], before['layer1.0.conv1.weight'])  # frozen_stages=1
    assert not model.backbone.bn1.training  # norm_eval


def test_readme_shows_the_tested_lines():
    text = open(README).read()
    assert README_SECTION in text
    assert MMDET_LINES in text
