# ImageNet-1k as class folders: data/imagenet/{train,val}/<wnid>/*.JPEG (or pass ann_file=... per split).
# Released MixSKD recipe: random resized crop 224 + flip; test resize 256 / center crop 224.
# 16 images per GPU; the paper used 8 GPUs (128 in total).
data_root = 'data/imagenet'
num_classes = 1000
data_preprocessor = dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
train_dataloader = dict(
    batch_size=16, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ImageNet', data_root=data_root, split='train',
                 pipeline=[dict(type='RandomResizedCrop', size=224), dict(type='RandomHorizontalFlip')]))
val_dataloader = dict(
    batch_size=64, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ImageNet', data_root=data_root, split='val',
                 pipeline=[dict(type='Resize', size=256), dict(type='CenterCrop', size=224)]))
val_evaluator = dict(type='MultiExitAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
