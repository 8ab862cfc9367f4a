# MixSKD around timm's ResNet-18 with the CIFAR stem (3x3 stride-1 conv, no max-pool), the released
# CIFAR-100 setting: exits replicate the later stages (paper), alpha 0.4, T 3, all loss weights 1.
# Built like the released CIFAR ResNet-18 (README 'The method, as implemented'): no ReLU after the stem's BN (stem_act=False) and
# PyTorch's default layer initialisation (init='torch': no zeroed last BN per block); the exits copy both.
model = dict(
    type='MixSKD',
    backbone=dict(type='TimmStageBackbone', model_name='resnet18', cifar_stem=True, stem_act=False, init='torch',
                  out_indices=(1, 2, 3, 4)),
    num_classes=100,
    exit_type='replicate',
    alpha=0.4,
    ce_loss=dict(type='OriginalCELoss', loss_weight=1.0),
    # the released CIFAR script computes but never adds this term; the paper and ImageNet script do (we do)
    mix_ce_loss=dict(type='MixupCELoss', loss_weight=1.0),
    kd_loss=dict(type='DistributionKDLoss', temperature=3.0, loss_weight=1.0),
    feat_loss=dict(type='FeatureMapL2Loss', loss_weight=1.0),
    # deviation from the released code (whose discriminators were never trained): trained via gradient reversal
    adv_loss=dict(type='AdversarialFeatureLoss', loss_weight=1.0),
    channels_last=True,  # faster convolutions (README, Performance); False: contiguous tensors
)
