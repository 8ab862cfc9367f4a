"""Faster R-CNN R50-FPN 1x on COCO as a LazyConfig: Detectron2's model-zoo parts (``common/models/mask_rcnn_fpn.py``
without its mask head, ``common/data/coco.py``, ``common/optim.py``, ``common/coco_schedule.py``), the ResNet-50
replaced by a timm one, RGB input with the backbone's mean and std.

    python tools/d2_train.py --config-file configs/detectron2/faster_rcnn_timm_r50_fpn_1x_coco.py \\
        model.backbone.bottom_up.weights=work_dirs/run/backbone.safetensors
"""
from detectron2 import model_zoo
from detectron2.config import LazyCall as L

from mixskd_mm.detectron2 import TimmBackbone, expected_stats

model = model_zoo.get_config('common/models/mask_rcnn_fpn.py').model
model.roi_heads.update(mask_in_features=None, mask_pooler=None, mask_head=None)
# weights: a backbone file (tools/export_backbone.py), a run dir, local-dir:FOLDER or hf-hub:org/name
model.backbone.bottom_up = L(TimmBackbone)(model_name='resnet50', out_features=['res2', 'res3', 'res4', 'res5'],
                                           weights='', freeze_at=2, norm='FrozenBN')
# RGB, timm's ImageNet mean / std for resnet50 on the 0-255 scale; tools/d2_train.py refuses other values
model.input_format = 'RGB'
model.pixel_mean, model.pixel_std = expected_stats('resnet50')

dataloader = model_zoo.get_config('common/data/coco.py').dataloader
dataloader.train.mapper.image_format = 'RGB'
dataloader.test.mapper.image_format = 'RGB'
optimizer = model_zoo.get_config('common/optim.py').SGD
lr_multiplier = model_zoo.get_config('common/coco_schedule.py').lr_multiplier_1x
train = model_zoo.get_config('common/train.py').train
train.init_checkpoint = ''  # no Detectron2 ImageNet .pkl: the backbone starts from its own weights
