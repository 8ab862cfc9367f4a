# RetinaNet on timm's tiny `test_resnet` (FPN over C3-C5, narrow 64-channel neck and head), fine-tuned on the demo's
# composed detection data: held-out Fashion-MNIST objects pasted on scikit-image photos, 128x128 scenes, COCO json
# (mixskd_mm.datasets.scenes). Sized for a CPU: 300 iterations of 8 images (about 2 minutes on one core).
# The backbone comes from a pretraining run of configs/mixskd/*_test-resnet_*fashion-mnist.py (the CE or the
# MixSKD one), exported with tools/export_backbone.py; tools/demo.py passes both in turn:
#   python tools/demo.py                       # composes the data, pretrains, exports, fine-tunes, reports
#   python tools/train.py configs/demo/retinanet_test-resnet_fpn_1xb8-300i_composed-fashion.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mixskd_.../backbone.safetensors
# Inputs are normalised with the pretraining statistics (grey Fashion-MNIST), since that is what the backbone has seen.
# Unlike mmdet's ImageNet recipes, every stage is trained and BatchNorm stays in training mode: the backbone's BN
# statistics come from grey objects on black, the scenes are colour photos. With 300 iterations AdamW converges where
# SGD does not: on a tuning split composed from the training objects only (not the val scenes), box mAP after 300
# iterations was 35.0 (AdamW, BN adapting), 15.3 (AdamW, stem + stage 1 frozen, BN in eval mode), 4.6 (SGD lr 0.01,
# BN adapting) and 1.3 (SGD lr 0.01, frozen, BN in eval mode) from the same MixSKD backbone.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

data_root = 'data/composed_fashion/'
classes = ('T-shirt/top', 'Trouser', 'Sandal', 'Bag', 'Ankle boot')
backbone_checkpoint = 'work_dirs/mixskd_test-resnet_1xb64-10e_fashion-mnist/backbone.safetensors'
max_iters = 300

model = dict(
    data_preprocessor=dict(mean=[72.94, 72.94, 72.94], std=[90.02, 90.02, 90.02], bgr_to_rgb=True,
                           pad_size_divisor=32),
    backbone=dict(
        _delete_=True,
        type='mixskd_mm.TimmStageBackbone',
        model_name='test_resnet',
        out_indices=(1, 2, 3, 4),  # timm numbering: C2-C5, channels [32, 48, 192, 96]
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    neck=dict(in_channels=[32, 48, 192, 96], out_channels=64),
    bbox_head=dict(num_classes=len(classes), in_channels=64, feat_channels=64, stacked_convs=2))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, metainfo=dict(classes=classes), ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='images/train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    dataset=dict(data_root=data_root, metainfo=dict(classes=classes), ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='images/val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# iteration-based: linear warm-up, then cosine decay; one validation at the end
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=0.001, weight_decay=0.05),
                     clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters - 50, by_epoch=False, begin=50, end=max_iters),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
