# Released MixSKD CIFAR-100 schedule: 5 warm-up epochs + 200 epochs, SGD lr 0.1 (Nesterov, m 0.9, wd 5e-4),
# lr x0.1 after 100 and 150 epochs counted from the end of warm-up (mmengine counts milestones from `begin`).
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[100, 150], gamma=0.1, begin=5, end=205),
]
train_cfg = dict(by_epoch=True, max_epochs=205, val_interval=5)
val_cfg = dict()
test_cfg = dict()
