# Mixup-only baseline (Zhang et al., ICLR 2018; alpha 1), same backbone, data and schedule as MixSKD.
_base_ = './ce_resnet18_1xb64_cifar100.py'
model = dict(mix='mixup', alpha=1.0)
