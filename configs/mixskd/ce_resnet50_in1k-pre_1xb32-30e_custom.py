# Cross-entropy fine-tuning twin of mixskd_resnet50_in1k-pre_1xb32-30e_custom.py: the same pretrained backbone,
# data, schedule and normalisation; a linear classifier on the final stage.
_base_ = ['../_base_/datasets/folder_224_bs32.py', '../_base_/schedules/finetune_sgd_cosine_30e.py',
          '../_base_/default_runtime.py']
num_classes = 10  # the number of class folders in data/custom/train
model = dict(
    type='ImageClassifier',
    backbone=dict(type='TimmStageBackbone', model_name='resnet50', pretrained=True, out_indices=(1, 2, 3, 4)),
    num_classes=num_classes,
    channels_last=True,
)
