# Plain cross-entropy baseline: the same timm ResNet-18 with the CIFAR stem and a linear classifier.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='TimmStageBackbone', model_name='resnet18', cifar_stem=True, out_indices=(1, 2, 3, 4)),
    num_classes=100,
)
