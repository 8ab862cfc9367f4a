# Faster R-CNN R50-FPN, Pascal VOC 07+12 trainval -> VOC2007 test (VOC mAP, 11 points); no number in the paper.
# mmdet's recipe (8 GPUs x 2 images, SGD lr 0.01, 4 epochs of the 3x repeated set).
# The backbone, its checkpoint and how to train: README.md in this folder.
_base_ = ['mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py', './_base_/mixskd_resnet50.py']

model = dict(
    backbone=dict(_delete_=True, **_base_.mixskd_backbone),
    neck=dict(in_channels=[256, 512, 1024, 2048]))
