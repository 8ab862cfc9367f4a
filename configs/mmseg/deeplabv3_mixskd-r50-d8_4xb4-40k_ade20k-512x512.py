# DeepLabV3, ResNet-50 dilated to output stride 8, ADE20K (150 classes), 512x512 crops, 40k iterations, batch 16,
# lr 0.02, SyncBN: the paper's segmentation transfer of the MixSKD ImageNet ResNet-50 (timm `resnet50`), mIoU 42.37.
# mmseg's 80k recipe with the paper's 40k schedule and learning rate.
# The backbone file: the `backbone.safetensors` that training configs/mixskd/mixskd_resnet50_8xb16_in1k.py writes
# into its work dir, copied to `backbone_checkpoint` below, or exported from any checkpoint with
#   python tools/export_backbone.py work_dirs/mixskd_resnet50_8xb16_in1k/epoch_305.pth \
#       checkpoints/mixskd_resnet50_in1k_backbone.safetensors
# Train:  bash tools/dist_train.sh configs/mmseg/deeplabv3_mixskd-r50-d8_4xb4-40k_ade20k-512x512.py 4
# Baseline twin (the CE-pretrained ResNet-50, everything else identical): append
#   --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/ce_resnet50_8xb16_in1k/backbone.safetensors
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-80k_ade20k-512x512.py'

backbone_checkpoint = 'checkpoints/mixskd_resnet50_in1k_backbone.safetensors'
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained=None,  # mmseg hands `model.pretrained` to the backbone; the weights come from init_cfg
    backbone=dict(
        _delete_=True,
        type='mixskd_mm.TimmStageBackbone',
        model_name='resnet50',
        out_indices=(1, 2, 3, 4),  # timm numbering: C2-C5
        output_stride=8,  # layer3 / layer4 dilated by 2 / 4 instead of strided: the "d8" of mmseg's names
        frozen_stages=-1,
        norm_eval=False,
        norm_cfg=norm_cfg,
        init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint)),
    decode_head=dict(in_channels=2048, in_index=3, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=1024, in_index=2, norm_cfg=norm_cfg))

# the paper's schedule: 40k iterations of 4 GPUs x 4 images, SGD lr 0.02 with mmseg's poly decay
optimizer = dict(lr=0.02)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
