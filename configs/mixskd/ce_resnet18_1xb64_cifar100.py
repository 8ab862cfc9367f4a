# Cross-entropy baseline for mixskd_resnet18_1xb64_cifar100.py: same backbone, data and schedule.
# Self-KD-Lib reports 76.24 top-1 for its (pre-activation) ResNet-18 CE baseline.
_base_ = ['../_base_/models/ce_resnet18_cifar.py', '../_base_/datasets/cifar100_bs64.py',
          '../_base_/schedules/cifar100_sgd_205e.py', '../_base_/default_runtime.py']
