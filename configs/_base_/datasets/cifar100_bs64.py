# CIFAR-100 from the standard python pickles: data/cifar100/cifar-100-python/{train,test,meta}.
# Released MixSKD recipe: random crop 32 with 4-pixel padding + horizontal flip; batch 64 originals.
data_root = 'data/cifar100'
num_classes = 100
data_preprocessor = dict(type='ClsDataPreprocessor', mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418])
train_dataloader = dict(
    batch_size=64, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CIFAR100', data_root=data_root, split='train',
                 pipeline=[dict(type='RandomCrop', size=32, padding=4), dict(type='RandomHorizontalFlip')]))
val_dataloader = dict(
    batch_size=128, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CIFAR100', data_root=data_root, split='test', pipeline=[]))
val_evaluator = dict(type='MultiExitAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
