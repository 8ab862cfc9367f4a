# DeepLabV3, ResNet-50 at output stride 8, Pascal VOC 2012 + SBD aug (21 classes), 512x512 crops: the paper's
# segmentation transfer of the MixSKD ImageNet ResNet-50, mIoU 78.78. mmseg's 40k recipe with the paper's lr.
# The backbone, its checkpoint and how to train: README.md in this folder.
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512.py', './_base_/mixskd_resnet50.py']

model = dict(
    pretrained=None,  # mmseg hands `model.pretrained` to the backbone; the weights come from init_cfg
    # layer3 / layer4 dilated by 2 / 4 instead of strided: the "d8" of mmseg's names
    backbone=dict(_delete_=True, output_stride=8, **_base_.mixskd_backbone),
    decode_head=dict(in_channels=2048, in_index=3),
    auxiliary_head=dict(in_channels=1024, in_index=2))

# the paper's schedule: 40k iterations of 4 GPUs x 4 images, SGD lr 0.02 with mmseg's poly decay
optimizer = dict(lr=0.02)
optim_wrapper = dict(optimizer=optimizer)
