# Cross-entropy baseline for mixskd_resnet50_8xb16_in1k.py: same backbone, data and schedule.
_base_ = ['../_base_/datasets/imagenet_bs16.py', '../_base_/schedules/imagenet_sgd_cosine_305e.py',
          '../_base_/default_runtime.py']
model = dict(type='ImageClassifier',
             # initialised like the released ImageNet ResNet-50, as the MixSKD config
             backbone=dict(type='TimmStageBackbone', model_name='resnet50', init='kaiming',
                           out_indices=(1, 2, 3, 4)),
             num_classes=1000,
             channels_last=True)  # faster convolutions (README, Performance)
