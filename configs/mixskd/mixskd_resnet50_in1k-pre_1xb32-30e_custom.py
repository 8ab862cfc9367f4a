# MixSKD fine-tuning of timm's ImageNet ResNet-50 on your class folders (data/custom/{train,val}/<class>/*),
# 1 GPU x 32 images, 30 epochs. Its cross-entropy twin: ce_resnet50_in1k-pre_1xb32-30e_custom.py.
#   python tools/train.py configs/mixskd/mixskd_resnet50_in1k-pre_1xb32-30e_custom.py \
#       --cfg-options model.num_classes=N data_root=... (or edit the two lines below)
# The backbone starts from timm's default weights (resnet50.a1_in1k, fetched into the Hugging Face cache on first
# use; offline: HF_HUB_OFFLINE=1 with a cached copy, or pretrained='local-dir:PATH' / a backbone file / a run dir).
# Each replicated exit starts as a copy of the pretrained stages it replicates (exit_init='copy', the default on
# loaded weights); exit heads, self-teacher, discriminators and classifier start fresh.
_base_ = ['../_base_/datasets/folder_224_bs32.py', '../_base_/schedules/finetune_sgd_cosine_30e.py',
          '../_base_/default_runtime.py']
num_classes = 10  # the number of class folders in data/custom/train
model = dict(
    type='MixSKD',
    backbone=dict(type='TimmStageBackbone', model_name='resnet50', pretrained=True, out_indices=(1, 2, 3, 4)),
    num_classes=num_classes,
    exit_type='replicate',
    exit_init='copy',
    alpha=0.2,  # the released ImageNet value
    kd_loss=dict(type='DistributionKDLoss', temperature=3.0),
    adv_loss=dict(type='AdversarialFeatureLoss', loss_weight=1.0),
    channels_last=True,  # faster convolutions (README, Performance); False: contiguous tensors
)
