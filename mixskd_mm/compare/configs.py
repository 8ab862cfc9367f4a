"""The config file of every pretraining run of a comparison: one method, one seed, one sweep setting.

Every run gets the same data, pipeline, schedule and seed list; only ``model`` differs between methods:

========================  ====================================================================================
``ce``                    ``ImageClassifier``: backbone + linear head, cross-entropy
``mixup``                 ``ImageClassifier(mix='mixup', alpha=1.0)`` (Zhang et al., ICLR 2018)
``cutmix``                ``ImageClassifier(mix='cutmix', alpha=1.0)`` (Yun et al., ICCV 2019)
``mixskd``                ``MixSKD(exit_type='replicate', alpha=0.4)``, KD temperature 3: the paper's method
``mixskd-conv``           the same with the cheap depthwise-separable ``conv`` exits
========================  ====================================================================================

The written file is complete (no ``_base_``), so it stays readable and runnable on its own:
``python tools/train.py OUT/configs/NAME.py --work-dir OUT/runs/NAME``.
"""
from __future__ import annotations

import copy
import os.path as osp
from collections.abc import Sequence

from mmengine.config import Config

METHODS = ('ce', 'mixup', 'cutmix', 'mixskd', 'mixskd-conv')
DEFAULT_METHODS = ('ce', 'mixup', 'cutmix', 'mixskd')
LABELS = {'ce': 'CE', 'mixup': 'Mixup', 'cutmix': 'CutMix', 'mixskd': 'MixSKD', 'mixskd-conv': 'MixSKD (conv exits)'}
MIXSKD_METHODS = ('mixskd', 'mixskd-conv')
#: ``--channels-last`` values: contiguous tensors, channels-last everywhere, or the layout timed faster per convolution
LAYOUTS = ('off', 'on', 'auto')
CHEAP_BASELINES = ('mixup', 'cutmix')


def model_config(method: str, model_name: str, num_classes: int, mean: Sequence[float],
                 std: Sequence[float], layout: str = 'off') -> dict:
    """The ``model`` entry of one method.

    Args:
        method: One of :data:`METHODS`.
        model_name: A timm CNN (``TimmStageBackbone``'s ``model_name``).
        num_classes: Number of classes.
        mean: Per-channel mean (0-255) of the training images.
        std: Per-channel std (0-255).
        layout: One of :data:`LAYOUTS` (``--channels-last``): ``'off'`` leaves ``channels_last`` out (contiguous
            tensors), ``'on'`` sets it ``True``, ``'auto'`` sets ``'auto'``.

    Returns:
        The model config dict.

    Raises:
        ValueError: for an unknown method.
    """
    if method not in METHODS:
        raise ValueError(f'unknown method {method!r}; choose from {", ".join(METHODS)}')
    backbone = dict(type='TimmStageBackbone', model_name=model_name, out_indices=(1, 2, 3, 4))
    common = dict(backbone=backbone, num_classes=num_classes,
                  data_preprocessor=dict(type='ClsDataPreprocessor', mean=list(mean), std=list(std)))
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout {layout!r}; choose from {", ".join(LAYOUTS)}')
    if layout != 'off':
        common['channels_last'] = True if layout == 'on' else 'auto'
    if method in MIXSKD_METHODS:
        return dict(type='MixSKD', exit_type='conv' if method == 'mixskd-conv' else 'replicate', alpha=0.4,
                    kd_loss=dict(type='DistributionKDLoss', temperature=3.0),
                    adv_loss=dict(type='AdversarialFeatureLoss', loss_weight=1.0), **common)
    if method == 'ce':
        return dict(type='ImageClassifier', **common)
    return dict(type='ImageClassifier', mix=method, alpha=1.0, **common)


def pipelines(img_size: int) -> dict[str, list[dict]]:
    """Train and test pipelines for square ``img_size`` crops (uint8 tensors, ``torchvision.transforms.v2``).

    Small images (``img_size <= 64``) are resized to the size and padded-and-cropped, as on CIFAR; larger ones get
    a random resized crop, and a resize plus centre crop for evaluation, as on ImageNet. Both flip horizontally.

    Args:
        img_size: Side of the training crops.

    Returns:
        ``dict(train=[...], test=[...])``.
    """
    if img_size <= 64:
        resize = dict(type='Resize', size=[img_size, img_size])
        return dict(train=[resize, dict(type='RandomCrop', size=img_size, padding=max(2, img_size // 8)),
                           dict(type='RandomHorizontalFlip')], test=[resize])
    return dict(train=[dict(type='RandomResizedCrop', size=img_size, scale=[0.35, 1.0]),
                       dict(type='RandomHorizontalFlip')],
                test=[dict(type='Resize', size=int(round(img_size * 8 / 7))), dict(type='CenterCrop', size=img_size)])


def _loader(data_dir: str, split: str, pipeline: list[dict], batch: int, workers: int, shuffle: bool) -> dict:
    # persistent workers would carry their random streams across epochs, which a resumed run cannot restore
    return dict(batch_size=batch, num_workers=workers, persistent_workers=False,
                sampler=dict(type='DefaultSampler', shuffle=shuffle),
                dataset=dict(type='ImageNet', data_root=data_dir, split='', ann_file=f'{split}.txt',
                             classes='classes.txt', pipeline=pipeline))


def _evaluator(topk: int, scores_file: str) -> list[dict]:
    return [dict(type='MultiExitAccuracy', topk=(1, topk)), dict(type='ClassificationScores', out_file=scores_file)]


def run_config(method: str, seed: int, work_dir: str, data: dict, data_dir: str, settings: dict,
               overrides: dict | None = None) -> Config:
    """The complete config of one pretraining run.

    Args:
        method: One of :data:`METHODS`.
        seed: ``randomness.seed`` of the run.
        work_dir: The run's work directory (checkpoints, logs, ``backbone.safetensors``, score files).
        data: The summary :func:`~mixskd_mm.compare.data.prepare_data` returned.
        data_dir: The folder with ``classes.txt`` and the split lists.
        settings: ``model``, ``img_size``, ``epochs``, ``batch``, ``lr``, ``workers``.
        overrides: ``{dotted.key: value}`` of a sweep setting, applied last.

    Returns:
        The config (``Config.dump`` writes it).
    """
    num_classes, epochs, batch = len(data['classes']), settings['epochs'], settings['batch']
    iters = -(-data['splits']['train']['images'] // batch)
    pipe = pipelines(settings['img_size'])
    topk = min(5, num_classes)
    warmup = 1 if epochs > 1 else 0
    schedule = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=warmup,
                     convert_to_iter_based=True)] if warmup else []
    schedule.append(dict(type='CosineAnnealingLR', T_max=epochs - warmup, by_epoch=True, begin=warmup, end=epochs,
                         convert_to_iter_based=True))
    cfg = dict(
        default_scope='mixskd_mm',
        model=model_config(method, settings['model'], num_classes, data['mean'], data['std'],
                           settings.get('channels_last', 'off')),
        train_dataloader=_loader(data_dir, 'train', pipe['train'], batch, settings['workers'], True),
        val_dataloader=_loader(data_dir, 'val', pipe['test'], max(batch, 64), settings['workers'], False),
        val_evaluator=_evaluator(topk, osp.join(work_dir, 'val_scores.npz')),
        optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=settings['lr'], momentum=0.9,
                                                               nesterov=True, weight_decay=5e-4)),
        param_scheduler=schedule,
        train_cfg=dict(by_epoch=True, max_epochs=epochs, val_interval=1),
        val_cfg=dict(),
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=max(1, min(20, iters)), ignore_last=False),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
            sampler_seed=dict(type='DistSamplerSeedHook')),
        custom_hooks=[dict(type='ExportBackboneHook')],
        env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
                     dist_cfg=dict(backend='nccl')),
        vis_backends=[dict(type='LocalVisBackend')],
        visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]),
        log_processor=dict(type='LogProcessor', window_size=10, by_epoch=True),
        log_level='INFO', load_from=None, resume=False,
        randomness=dict(seed=seed, deterministic=False),
        work_dir=work_dir,
    )
    if data['has_test']:
        cfg.update(test_dataloader=_loader(data_dir, 'test', pipe['test'], max(batch, 64), settings['workers'], False),
                   test_evaluator=_evaluator(topk, osp.join(work_dir, 'test_scores.npz')), test_cfg=dict())
    config = Config(copy.deepcopy(cfg))
    if overrides:
        config.merge_from_dict(copy.deepcopy(overrides))
    return config


def has_key(config: Config, dotted: str) -> bool:
    """Whether ``config`` holds the dotted key (``'model.alpha'``), so that a sweep over it applies to the run."""
    node = config.to_dict() if isinstance(config, Config) else config
    for part in dotted.split('.'):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True
