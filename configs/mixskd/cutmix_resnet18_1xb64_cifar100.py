# CutMix-only baseline (Yun et al., ICCV 2019; alpha 1), same backbone, data and schedule as MixSKD.
_base_ = './ce_resnet18_1xb64_cifar100.py'
model = dict(mix='cutmix', alpha=1.0)
