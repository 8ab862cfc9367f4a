# MixSKD on the embedded Fashion-MNIST data, sized for a 2-core CPU (minutes): timm's tiny `test_resnet`
# (a real ResNet with narrow stages), 5,000 balanced training images, 10 epochs. The method is unchanged
# (replicate exits, alpha 0.4, T 3, all five terms); only the network, data and schedule are small.
_base_ = ['../_base_/datasets/fashion_mnist_bs64.py', '../_base_/schedules/cpu_sgd_cosine_10e.py',
          '../_base_/default_runtime.py']
model = dict(
    type='MixSKD',
    backbone=dict(type='TimmStageBackbone', model_name='test_resnet', out_indices=(1, 2, 3, 4)),
    num_classes=10,
    exit_type='replicate',
    alpha=0.4,
    kd_loss=dict(type='DistributionKDLoss', temperature=3.0),
    adv_loss=dict(type='AdversarialFeatureLoss', loss_weight=1.0),
    channels_last=True,  # faster convolutions (README, Performance); False: contiguous tensors
)
default_hooks = dict(logger=dict(interval=20))
