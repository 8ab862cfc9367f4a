# RetinaNet R50-FPN, 1x, COCO; no number in the paper. mmdet's recipe (8 GPUs x 2 images, SGD lr 0.01, 12 epochs).
# The backbone, its checkpoint and how to train: README.md in this folder.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', './_base_/mixskd_resnet50.py']

model = dict(
    backbone=dict(_delete_=True, **_base_.mixskd_backbone),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
