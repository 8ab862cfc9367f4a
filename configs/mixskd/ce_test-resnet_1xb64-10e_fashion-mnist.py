# Cross-entropy baseline for mixskd_test-resnet_1xb64-10e_fashion-mnist.py (same backbone, data, schedule).
_base_ = ['../_base_/datasets/fashion_mnist_bs64.py', '../_base_/schedules/cpu_sgd_cosine_10e.py',
          '../_base_/default_runtime.py']
model = dict(type='ImageClassifier',
             backbone=dict(type='TimmStageBackbone', model_name='test_resnet', out_indices=(1, 2, 3, 4)),
             num_classes=10,
             channels_last=True)  # faster convolutions (README, Performance)
default_hooks = dict(logger=dict(interval=20))
