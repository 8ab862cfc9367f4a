# The MixSKD ImageNet ResNet-50 (timm `resnet50`) as an mmseg backbone, trained whole with SyncBN as mmseg trains its
# own ResNets. A leaf lists this file beside its mmseg base and puts the block in with
#   model = dict(pretrained=None, backbone=dict(_delete_=True, **_base_.mixskd_backbone), ...)
# (a variable, not `model`: mmengine refuses a key that two bases both define). See README.md in this folder.
backbone_checkpoint = 'checkpoints/mixskd_resnet50_in1k_backbone.safetensors'
mixskd_backbone = dict(
    type='mixskd_mm.TimmStageBackbone',
    model_name='resnet50',
    out_indices=(1, 2, 3, 4),  # timm numbering: C2-C5, strides 4-32
    frozen_stages=-1,
    norm_eval=False,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    init_cfg=dict(type='Pretrained', checkpoint=backbone_checkpoint))
