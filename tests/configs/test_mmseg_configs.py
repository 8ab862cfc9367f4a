"""Every segmentation config in configs/mmseg/ trains 2 iterations and evaluates (mIoU) through tools/train.py, on
tiny ADE20K / Pascal VOC aug / COCO-Stuff-164K data in their real layouts; and the README's paste-in lines turn
mmseg's own DeepLabV3 config into one that trains on the exported backbone.
"""
import glob
import math
import os

import pytest
import torch
from _helpers import ROOT, run_tool
from _transfer_data import (
    ONE_THREAD,
    TEST_CROP,
    backbone_load_report,
    cpu_options,
    dataset_root,
    one_torch_thread,
    resnet50_backbone_file,
    scalars,
)
from mmengine.config import Config

CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'mmseg', '*.py')))
README = os.path.join(ROOT, 'README.md')
README_SECTION = 'Use a MixSKD backbone in your own mmdet/mmseg config'

#: what the README tells users to paste into an mmseg config (a ResNet-50-D8 model: DeepLabV3, PSPNet, FCN ...)
MMSEG_LINES = """\
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mixskd_mm.TimmStageBackbone',
        model_name='resnet50',
        out_indices=(1, 2, 3, 4),
        output_stride=8,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint='work_dirs/mixskd_resnet50_8xb16_in1k/backbone.safetensors')),
    decode_head=dict(in_channels=2048, in_index=3),
    auxiliary_head=dict(in_channels=1024, in_index=2))
"""

@pytest.fixture(scope='module')
def backbone_file(tmp_path_factory):
    return resnet50_backbone_file(tmp_path_factory)


def _kind(config):
    name = os.path.basename(config)
    for key, kind in (('_ade20k-', 'ade20k'), ('_voc12aug-', 'voc_aug'), ('_coco-stuff164k-', 'coco_stuff164k')):
        if key in name:
            return kind
    pytest.fail(f'no tiny dataset known for {name}; add one to tests/_transfer_data.py')


def test_every_config_is_covered():
    names = {os.path.basename(c) for c in CONFIGS}
    datasets = ('ade20k', 'voc12aug', 'coco-stuff164k')
    assert {f'deeplabv3_mixskd-r50-d8_4xb4-40k_{d}-512x512.py' for d in datasets} <= names
    assert any(n.startswith(('upernet_', 'fcn_')) and '_ade20k-' in n for n in names)


@pytest.mark.parametrize('config', [c for c in CONFIGS if os.path.basename(c).startswith('deeplabv3_')],
                         ids=os.path.basename)
def test_deeplabv3_configs_follow_the_paper(config):
    cfg = Config.fromfile(config)
    model = cfg.model
    assert model.pretrained is None and model.backbone.output_stride == 8
    assert model.backbone.out_indices == (1, 2, 3, 4)
    assert (model.decode_head.in_channels, model.decode_head.in_index) == (2048, 3)
    assert (model.auxiliary_head.in_channels, model.auxiliary_head.in_index) == (1024, 2)
    for part in (model.backbone, model.decode_head, model.auxiliary_head):
        assert part.norm_cfg == dict(type='SyncBN', requires_grad=True)
    assert cfg.crop_size == (512, 512) and model.data_preprocessor.size == (512, 512)
    assert cfg.train_dataloader.batch_size == 4  # x 4 GPUs = 16
    assert cfg.train_cfg.max_iters == 40000 and cfg.param_scheduler[0].end == 40000
    assert cfg.optim_wrapper.optimizer.lr == 0.02


@pytest.mark.parametrize('config', CONFIGS, ids=os.path.basename)
def test_config_trains_two_iterations_and_evaluates(config, tmp_path, tmp_path_factory, backbone_file):
    cfg = Config.fromfile(config).to_dict()
    assert cfg['default_scope'] == 'mmseg'
    assert cfg['model']['backbone']['init_cfg'] == dict(type='Pretrained', checkpoint=cfg['backbone_checkpoint'])

    opts = cpu_options(cfg, dataset_root(tmp_path_factory, _kind(config)), backbone_file)
    # SyncBN stays: without a process group the Runner turns it into BatchNorm, as on one GPU
    opts += ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint=None']
    proc = run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options', *opts, env=ONE_THREAD)

    matched, total = backbone_load_report(proc.stdout + proc.stderr)
    assert matched == total > 300  # every tensor of the ResNet-50 came from the file
    records = scalars(tmp_path)
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == [1, 2] and all(math.isfinite(r['loss']) for r in train)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(train[0])
    evals = [r for r in records if 'mIoU' in r]
    assert len(evals) == 1 and 0 <= evals[0]['mIoU'] <= 100


def test_readme_lines_train_mmsegs_own_deeplabv3(tmp_path, tmp_path_factory, backbone_file):
    """mmseg's deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512.py + the README lines: weights loaded, one training step."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    from safetensors.torch import load_file

    from mixskd_mm.engine.runner_setup import parse_cfg_options
    path = tmp_path / 'my_deeplabv3.py'
    path.write_text("_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512.py'\n\n" + MMSEG_LINES)
    cfg = Config.fromfile(str(path))
    assert cfg.model.backbone.type == 'mixskd_mm.TimmStageBackbone'
    data_root = dataset_root(tmp_path_factory, 'voc_aug')
    cfg.merge_from_dict(parse_cfg_options(cpu_options(cfg.to_dict(), data_root, backbone_file)))

    with one_torch_thread(), DefaultScope.overwrite_default_scope('mmseg'):
        from mmseg.registry import MODELS
        model = revert_sync_batchnorm(MODELS.build(cfg.model))  # what the Runner does without a process group
        model.init_weights()
        saved, own = load_file(backbone_file), model.backbone.state_dict()
        assert set(own) == set(saved) and all(torch.equal(own[k], saved[k]) for k in own)
        assert model.backbone.strides[-1] == 8
        batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        before = model.backbone.conv1.weight.detach().clone()
        model.train()
        losses = model.train_step(batch, optim_wrapper)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert not torch.equal(model.backbone.conv1.weight, before)  # the whole backbone trains in segmentation
    assert batch['inputs'][0].shape[-2:] == TEST_CROP


def test_readme_shows_the_tested_lines():
    text = open(README).read()
    assert README_SECTION in text
    assert MMSEG_LINES in text
