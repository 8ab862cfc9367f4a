# Released MixSKD ImageNet schedule: 5 warm-up epochs + 300 cosine epochs, SGD lr 0.1 (m 0.9, wd 1e-4),
# for a global batch of 128 (8 GPUs x 16). auto_scale_lr rescales lr for other batch sizes (--cfg-options).
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=300, by_epoch=True, begin=5, end=305, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=305, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=128, enable=False)
