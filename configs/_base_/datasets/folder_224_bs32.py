# Your own data as ImageNet-style class folders: data/custom/{train,val}/<class>/*.jpg. Set num_classes to the
# number of class folders (in the leaf: model.num_classes), and data_root to your folder.
# The inputs of timm's ImageNet ResNets (resnet50.a1_in1k: pretrained_cfg mean/std, bicubic, crop_pct 0.95):
# random resized crop 224 + flip for training; resize 236 (224 / 0.95) + centre crop 224 for validation.
data_root = 'data/custom'
# timm's normalisation of these weights (pretrained_cfg mean/std x 255); the model logs it beside the weights' own
# and warns when they differ
data_preprocessor = dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ImageNet', data_root=data_root, split='train',
                 pipeline=[dict(type='RandomResizedCrop', size=224, interpolation='bicubic'),
                           dict(type='RandomHorizontalFlip')]))
val_dataloader = dict(
    batch_size=64, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ImageNet', data_root=data_root, split='val',
                 pipeline=[dict(type='Resize', size=236, interpolation='bicubic'), dict(type='CenterCrop', size=224)]))
val_evaluator = dict(type='MultiExitAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
