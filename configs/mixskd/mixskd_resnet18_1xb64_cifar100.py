# MixSKD, ResNet-18 (CIFAR stem), CIFAR-100, the released recipe (its CIFAR script): 1 GPU x 64 originals
# (128 images per step with the Mixup half), 5 + 200 epochs. Paper: 80.32 top-1.
_base_ = ['../_base_/models/mixskd_resnet18_cifar.py', '../_base_/datasets/cifar100_bs64.py',
          '../_base_/schedules/cifar100_sgd_205e.py', '../_base_/default_runtime.py']
