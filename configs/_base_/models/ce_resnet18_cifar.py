# Plain cross-entropy baseline: the same timm ResNet-18 as the MixSKD CIFAR model, built like the released
# CIFAR ResNet-18: CIFAR stem without the ReLU after its BN (conv3x3 -> BN -> layer1) and PyTorch's default
# layer initialisation (no zeroed last BN per block), so the baselines stay like-for-like with MixSKD.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='TimmStageBackbone', model_name='resnet18', cifar_stem=True, stem_act=False, init='torch',
                  out_indices=(1, 2, 3, 4)),
    num_classes=100,
    channels_last=True,  # faster convolutions (README, Performance); False: contiguous tensors
)
