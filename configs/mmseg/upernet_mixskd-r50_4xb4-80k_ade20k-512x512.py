# UPerNet on the undilated MixSKD ImageNet ResNet-50 (timm `resnet50`), ADE20K, 512x512 crops: a lighter head than
# DeepLabV3-D8 (features at strides 4-32); no number in the paper. mmseg's own recipe unchanged (80k iterations,
# 4 GPUs x 4 images, SGD lr 0.01, SyncBN); mmseg reports 40.70 mIoU for it with its ResNetV1c-50.
# The backbone file: the `backbone.safetensors` that training configs/mixskd/mixskd_resnet50_8xb16_in1k.py writes
# into its work dir, copied to `backbone_checkpoint` below, or exported from any checkpoint with
#   python tools/export_backbone.py work_dirs/mixskd_resnet50_8xb16_in1k/epoch_305.pth \
#       checkpoints/mixskd_resnet50_in1k_backbone.safetensors
# Train:  bash tools/dist_train.sh configs/mmseg/upernet_mixskd-r50_4xb4-80k_ade20k-512x512.py 4
# Baseline twin (the CE-pretrained ResNet-50, everything else identical): append
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/ce_resnet50_8xb16_in1k/backbone.safetensors
_base_ = 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'

backbone_checkpoint = 'checkpoints/mixskd_resnet50_in1k_backbone.safetensors'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,  # mmseg hands `model.pretrained` to the backbone; the weights come from init_cfg
    backbone=dict(
        _delete_=True,
        type='mixskd_mm.TimmStageBackbone',
        model_name='resnet50',
        out_indices=(1, 2, 3, 4),  # timm numbering: C2-C5, strides 4-32
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    decode_head=dict(in_channels=[256, 512, 1024, 2048], in_index=[0, 1, 2, 3], norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=1024, in_index=2, norm_cfg=norm_cfg))
