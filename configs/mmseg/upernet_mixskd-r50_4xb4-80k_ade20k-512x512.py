# UPerNet on the undilated MixSKD ImageNet ResNet-50, ADE20K, 512x512 crops: a lighter head than DeepLabV3-D8
# (features at strides 4-32); no number in the paper. mmseg's own recipe unchanged (80k iterations, 4 GPUs x 4
# images, SGD lr 0.01, SyncBN); mmseg reports 40.70 mIoU for it with its ResNetV1c-50.
# The backbone, its checkpoint and how to train: README.md in this folder.
_base_ = ['mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py', './_base_/mixskd_resnet50.py']

model = dict(
    pretrained=None,  # mmseg hands `model.pretrained` to the backbone; the weights come from init_cfg
    backbone=dict(_delete_=True, **_base_.mixskd_backbone),
    decode_head=dict(in_channels=[256, 512, 1024, 2048], in_index=[0, 1, 2, 3]),
    auxiliary_head=dict(in_channels=1024, in_index=2))
