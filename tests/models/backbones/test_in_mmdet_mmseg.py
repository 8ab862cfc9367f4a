"""TimmStageBackbone inside real MMDetection and MMSegmentation models, built from their own configs."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

BACKBONE = dict(_delete_=True, type='mixskd_mm.TimmStageBackbone', model_name='resnet18', out_indices=(1, 2, 3, 4),
                frozen_stages=1, norm_eval=True)


def _config(tmp_path, text):
    path = tmp_path / 'cfg.py'
    path.write_text(text)
    return Config.fromfile(str(path))


def _det_batch(n=2, size=64):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    inputs, samples = [], []
    for i in range(n):
        inputs.append(torch.randint(0, 255, (3, size, size), dtype=torch.uint8))
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
                                        pad_shape=(size, size), batch_input_shape=(size, size)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[4.0, 6.0, 40.0, 50.0], [20.0, 10.0, 60.0, 30.0]]),
                                      labels=torch.tensor([i, 2]))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _train_step_and_predict(model, data):
    model.train()
    processed = model.data_preprocessor(data, True)
    losses = model(**processed, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for n, p in model.backbone.named_parameters() if n.startswith('layer4') and p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.backbone.layer1.parameters())  # frozen_stages=1
    model.eval()
    with torch.no_grad():
        return model.test_step(data)


@pytest.mark.parametrize('base', ['retinanet/retinanet_r50_fpn_1x_coco.py',
                                  'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'])
def test_mmdet_detectors_train_and_predict(tmp_path, base):
    cfg = _config(tmp_path, f"_base_ = 'mmdet::{base}'\n"
                            f"model = dict(backbone={BACKBONE!r}, neck=dict(in_channels=[64, 128, 256, 512]))\n")
    assert cfg.default_scope == 'mmdet'
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
        model.init_weights()
        results = _train_step_and_predict(model, _det_batch())
    assert len(results) == 2
    assert results[0].pred_instances.bboxes.shape[-1] == 4


def test_mmseg_deeplabv3_on_dilated_backbone(tmp_path):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    backbone = dict(BACKBONE, output_stride=8)
    cfg = _config(tmp_path, "_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512.py'\n"
                            f"norm_cfg = dict(type='BN', requires_grad=True)\n"
                            "model = dict(pretrained=None, data_preprocessor=dict(size=(64, 64)),\n"
                            f"    backbone={backbone!r},\n"
                            "    decode_head=dict(in_channels=512, channels=32, norm_cfg=norm_cfg),\n"
                            "    auxiliary_head=dict(in_channels=256, channels=16, norm_cfg=norm_cfg))\n")
    from mmseg.registry import MODELS
    size = 64
    data = dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8) for _ in range(2)], data_samples=[])
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 21, (1, size, size)))
        data['data_samples'].append(s)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
        assert model.backbone.strides[-1] == 8
        model.init_weights()
        results = _train_step_and_predict(model, data)
    assert results[0].pred_sem_seg.data.shape[-2:] == (size, size)


def test_mmdet_base_config_resolves(tmp_path):
    cfg = _config(tmp_path, "_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'\n")
    assert cfg.model.type == 'RetinaNet'
