# Cascade R-CNN R50-FPN, 1x, COCO, on the MixSKD ImageNet ResNet-50 (timm `resnet50`): the paper's detection transfer,
# box mAP 41.6. mmdet's recipe (8 GPUs x 2 images, SGD lr 0.02, 12 epochs) with the usual ResNet transfer settings:
# stem + stage 1 frozen, BatchNorm in eval mode.
# The backbone file: the `backbone.safetensors` that training configs/mixskd/mixskd_resnet50_8xb16_in1k.py writes
# into its work dir, copied to `backbone_checkpoint` below, or exported from any checkpoint with
#   python tools/export_backbone.py work_dirs/mixskd_resnet50_8xb16_in1k/epoch_305.pth \
#       checkpoints/mixskd_resnet50_in1k_backbone.safetensors
# Train:  bash tools/dist_train.sh configs/mmdet/cascade-rcnn_mixskd-r50_fpn_1x_coco.py 8
# Baseline twin (the CE-pretrained ResNet-50, everything else identical): append
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/ce_resnet50_8xb16_in1k/backbone.safetensors
_base_ = 'mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py'

backbone_checkpoint = 'checkpoints/mixskd_resnet50_in1k_backbone.safetensors'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mixskd_mm.TimmStageBackbone',
        model_name='resnet50',
        out_indices=(1, 2, 3, 4),  # timm numbering: C2-C5
        frozen_stages=1,
        norm_eval=True,
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
