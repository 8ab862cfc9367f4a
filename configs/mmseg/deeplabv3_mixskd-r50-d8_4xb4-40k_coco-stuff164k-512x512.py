# DeepLabV3, ResNet-50 at output stride 8, COCO-Stuff-164K (171 classes), 512x512 crops: the paper's segmentation
# transfer of the MixSKD ImageNet ResNet-50, mIoU 37.12. mmseg's 80k recipe with the paper's 40k schedule and lr.
# The backbone, its checkpoint and how to train: README.md in this folder.
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-80k_coco-stuff164k-512x512.py', './_base_/mixskd_resnet50.py']

model = dict(
    pretrained=None,  # mmseg hands `model.pretrained` to the backbone; the weights come from init_cfg
    # layer3 / layer4 dilated by 2 / 4 instead of strided: the "d8" of mmseg's names
    backbone=dict(_delete_=True, output_stride=8, **_base_.mixskd_backbone),
    decode_head=dict(in_channels=2048, in_index=3),
    auxiliary_head=dict(in_channels=1024, in_index=2))

# the paper's schedule: 40k iterations of 4 GPUs x 4 images, SGD lr 0.02 with mmseg's poly decay
optimizer = dict(lr=0.02)
optim_wrapper = dict(optimizer=optimizer)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
