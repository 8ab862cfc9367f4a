# MixSKD, ResNet-50, ImageNet-1k, the released recipe: 8 GPUs x 16 originals, 5 + 300 epochs cosine,
# alpha 0.2, T 3. Paper: 78.76 top-1.   bash tools/dist_train.sh configs/mixskd/mixskd_resnet50_8xb16_in1k.py 8
_base_ = ['../_base_/datasets/imagenet_bs16.py', '../_base_/schedules/imagenet_sgd_cosine_305e.py',
          '../_base_/default_runtime.py']
model = dict(
    type='MixSKD',
    # initialised like the released ImageNet ResNet-50: Kaiming-normal (fan_out) convs, no zeroed last BN per
    # block (timm zeroes it); the replicated exits use the same scheme
    backbone=dict(type='TimmStageBackbone', model_name='resnet50', init='kaiming', out_indices=(1, 2, 3, 4)),
    num_classes=1000,
    exit_type='replicate',
    alpha=0.2,
    kd_loss=dict(type='DistributionKDLoss', temperature=3.0),
    adv_loss=dict(type='AdversarialFeatureLoss', loss_weight=1.0),
    channels_last=True,  # faster convolutions (README, Performance); False: contiguous tensors
)
