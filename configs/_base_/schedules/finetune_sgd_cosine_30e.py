# Fine-tuning from pretrained weights (not measured here: no ImageNet weights reach our machines; README, Pretrained
# starts). SGD with Nesterov momentum 0.9, weight decay 1e-4, lr 0.01 for a batch of 32: a tenth of the from-scratch
# ImageNet rate at that batch (0.1 x 32 / 128 = 0.025, rounded down), the range in which Kornblith et al. (CVPR 2019,
# "Do Better ImageNet Models Transfer Better?") found the best fine-tuning rates. 2 warm-up epochs keep the fresh
# classifier's first gradients from wrecking the pretrained features; then cosine decay to epoch 30.
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=28, by_epoch=True, begin=2, end=30, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=32, enable=False)
