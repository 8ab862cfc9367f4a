"""TimmBackbone against Detectron2's own ResNet (output_shape, freeze_at, norms), a backbone file exported by our
tools loading N/N, and the pixel-format check that refuses a BGR / Caffe-mean config."""
import argparse
import os

import pytest
import torch

pytest.importorskip('detectron2', reason='Detectron2 is not installed (`make setup` installs it unless '
                                          'MIXSKD_SKIP_DETECTRON2 is set)')
from _d2 import TEST_RESNET_PIXELS
from _helpers import ROOT
from detectron2.config import LazyConfig, get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_model
from detectron2.modeling.backbone.resnet import build_resnet_backbone
from torch import nn

from mixskd_mm.detectron2 import PixelFormatError, TimmBackbone
from mixskd_mm.detectron2.train import load_yacs_config, train_lazy

FASTER = os.path.join(ROOT, 'configs', 'detectron2', 'faster_rcnn_timm_r50_fpn_1x_coco.yaml')
LAZY = os.path.join(ROOT, 'configs', 'detectron2', 'faster_rcnn_timm_r50_fpn_1x_coco.py')
CAFFE_BGR = ['INPUT.FORMAT', 'BGR', 'MODEL.PIXEL_MEAN', '[103.53, 116.28, 123.675]',
             'MODEL.PIXEL_STD', '[1.0, 1.0, 1.0]']


def _detectron2_resnet50(freeze_at: int, norm: str):
    cfg = get_cfg()
    cfg.MODEL.RESNETS.OUT_FEATURES = ['res2', 'res3', 'res4', 'res5']
    cfg.MODEL.RESNETS.NORM = norm
    cfg.MODEL.BACKBONE.FREEZE_AT = freeze_at
    return build_resnet_backbone(cfg, ShapeSpec(channels=3))


def _trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _training_norms(model: nn.Module) -> int:
    """BatchNorms that update their statistics in train mode."""
    return sum(isinstance(m, nn.BatchNorm2d) and m.training for m in model.train().modules())


@pytest.mark.parametrize('freeze_at,norm', [(0, 'BN'), (1, 'BN'), (2, 'BN'), (5, 'BN'), (2, 'FrozenBN')])
def test_output_shape_and_freeze_at_match_detectron2_resnet50(freeze_at, norm):
    ours, theirs = TimmBackbone('resnet50', freeze_at=freeze_at, norm=norm), _detectron2_resnet50(freeze_at, norm)
    assert ours.output_shape() == theirs.output_shape()
    assert ours.size_divisibility == 32
    assert _trainable(ours) == _trainable(theirs)  # the same stages frozen: stem = 1, res2 = 2, ..., res5 = 5
    assert _training_norms(ours) == _training_norms(theirs)
    x = torch.zeros(1, 3, 64, 96)
    with torch.no_grad():
        assert {k: v.shape for k, v in ours.eval()(x).items()} == {k: v.shape for k, v in theirs.eval()(x).items()}


def test_other_timm_models_name_their_stages_and_a_wrong_fpn_feature_is_refused():
    b = TimmBackbone('convnext_atto', norm='BN')
    assert list(b.output_shape()) == ['stage0', 'stage1', 'stage2', 'stage3']
    assert [s.stride for s in b.output_shape().values()] == [4, 8, 16, 32]
    cfg = load_yacs_config(FASTER, ['MODEL.TIMM.NAME', 'convnext_atto', 'MODEL.TIMM.NORM', 'BN',
                                    'MODEL.DEVICE', 'cpu'])
    with pytest.raises(ValueError, match=r"out_features \['res2'.*stage0.*MODEL.TIMM.OUT_FEATURES"):
        build_model(cfg)
    cfg.MODEL.TIMM.OUT_FEATURES = ['stage1', 'stage2', 'stage3']
    with pytest.raises(ValueError, match=r"MODEL.FPN.IN_FEATURES \['res2'.*returns \['stage1'"):
        build_model(cfg)


@pytest.fixture(params=['file', 'timm'])
def exported_backbone(request, tmp_path):
    """A training checkpoint of a test_resnet MixSKD-style run (CIFAR mean/std), exported by tools/export_backbone as
    a backbone file, or as a timm folder named ``local-dir:FOLDER``."""
    from mixskd_mm.cli.export_backbone import main as export_main
    from mixskd_mm.models.backbones import TimmStageBackbone
    torch.manual_seed(0)
    body = TimmStageBackbone('test_resnet')
    cfg = ("model = dict(type='MixSKD', backbone=dict(type='TimmStageBackbone', model_name='test_resnet'), "
           "data_preprocessor=dict(mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255]))\n")
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in body.state_dict().items()},
                    meta=dict(cfg=cfg, experiment_name='run', epoch=1, iter=2)), ckpt)
    if request.param == 'timm':
        export_main([str(ckpt), str(tmp_path / 'timm_folder'), '--format', 'timm'])
        return f'local-dir:{tmp_path / "timm_folder"}', body.state_dict()
    out = str(tmp_path / 'backbone.safetensors')
    assert export_main([str(ckpt), out]) == len(body.state_dict())  # it returns the tensor count
    return out, body.state_dict()


def test_an_exported_backbone_file_loads_n_of_n_and_sets_the_pixel_statistics(exported_backbone):
    path, state = exported_backbone
    recorded = ['MODEL.PIXEL_MEAN', '[125.307, 122.961, 113.8575]', 'MODEL.PIXEL_STD', '[51.5865, 50.847, 51.255]']
    opts = ['MODEL.TIMM.NAME', 'test_resnet', 'MODEL.TIMM.WEIGHTS', path, 'MODEL.DEVICE', 'cpu']
    model = build_model(load_yacs_config(FASTER, opts + recorded))
    bottom_up = model.backbone.bottom_up
    report = bottom_up.weights_report
    own = bottom_up.body.state_dict()
    assert len(report['matched']) == len(own) and not report['missing'] and not report['mismatched']
    assert all(torch.equal(own[k], state[k]) for k in own)
    assert bottom_up.pretrained_cfg['mean'] == pytest.approx((0.4914, 0.4822, 0.4465), abs=1e-4)
    # test_resnet's own timm statistics (0.5 / 0.5) are not what this file was trained with: refused
    with pytest.raises(PixelFormatError, match=r'mean \[125\.307, 122\.961, 113\.858\]'):
        build_model(load_yacs_config(FASTER, opts + TEST_RESNET_PIXELS))


def test_a_bgr_caffe_mean_config_is_refused_with_the_fix():
    cfg = load_yacs_config(FASTER, ['MODEL.TIMM.NAME', 'resnet18', 'MODEL.DEVICE', 'cpu', *CAFFE_BGR])
    with pytest.raises(PixelFormatError) as err:
        build_model(cfg)
    message = str(err.value)
    assert "input format 'BGR'" in message and "Detectron2's BGR Caffe mean" in message
    assert 'INPUT.FORMAT RGB MODEL.PIXEL_MEAN "[123.675, 116.28, 103.53]" MODEL.PIXEL_STD "[58.395, 57.12, 57.375]"' \
        in message
    build_model(load_yacs_config(FASTER, ['MODEL.TIMM.NAME', 'resnet18', 'MODEL.DEVICE', 'cpu']))  # ours: accepted
    imagenet_pkl = ['MODEL.WEIGHTS', 'detectron2://ImageNetPretrained/MSRA/R-50.pkl']
    with pytest.raises(ValueError, match='MODEL.TIMM.WEIGHTS'):
        build_model(load_yacs_config(FASTER, ['MODEL.TIMM.NAME', 'resnet18', 'MODEL.DEVICE', 'cpu', *imagenet_pkl]))


def test_a_bgr_caffe_mean_lazy_config_is_refused_with_the_fix(tmp_path):
    cfg = LazyConfig.load(LAZY)
    cfg.model.backbone.bottom_up.model_name = 'resnet18'
    cfg.model.pixel_mean, cfg.model.pixel_std = [103.53, 116.28, 123.675], [1.0, 1.0, 1.0]
    cfg.dataloader.train.mapper.image_format = 'BGR'
    cfg.train.output_dir = str(tmp_path)
    args = argparse.Namespace(config_file=LAZY, opts=[], eval_only=False, resume=False)
    with pytest.raises(PixelFormatError, match=r"image_format='RGB'.*model.pixel_mean=\[123.675, 116.28, 103.53\]"):
        train_lazy(args, cfg)
