"""The config file of every pretraining run of a comparison: one method, one seed, one sweep variant.

Every run gets the same data, pipeline, schedule and seed list; only ``model`` differs between methods:

========================  ====================================================================================
``ce``                    ``ImageClassifier``: backbone + linear head, cross-entropy
``mixup``                 ``ImageClassifier(mix='mixup', alpha=1.0)`` (Zhang et al., ICLR 2018)
``cutmix``                ``ImageClassifier(mix='cutmix', alpha=1.0)`` (Yun et al., ICCV 2019)
``mixskd``                ``MixSKD(exit_type='replicate', alpha=0.4)``, KD temperature 3, loss weights 1 (the paper)
``mixskd-conv``           the same with the cheap depthwise-separable ``conv`` exits
``ce-matched``            CE trained as long as makes its cost equal MixSKD's (:mod:`~mixskd_mm.compare.compute`);
                          ``mixup-matched`` and ``cutmix-matched`` likewise
========================  ====================================================================================

Every config starts from our bases in ``configs/_base_/`` (:data:`BASES`, found by
:func:`~mixskd_mm.utils.locations.config_path`), so a change to our runtime reaches the recipes and the comparisons
alike; :func:`method_config` sets only what a comparison decides. The written file is complete (no ``_base_``), so
it stays readable and runnable on its own: ``python tools/train.py OUT/configs/NAME.py --work-dir OUT/runs/NAME``.
"""
from __future__ import annotations

import copy
import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mmengine.config import Config

from mixskd_mm.utils.locations import config_path

#: compute-matched method -> the method it trains longer (its model config is that method's)
MATCHED = {'ce-matched': 'ce', 'mixup-matched': 'mixup', 'cutmix-matched': 'cutmix'}
METHODS = ('ce', 'mixup', 'cutmix', 'mixskd', 'mixskd-conv', *MATCHED)
DEFAULT_METHODS = ('ce', 'mixup', 'cutmix', 'mixskd', 'ce-matched')
LABELS = {'ce': 'CE', 'mixup': 'Mixup', 'cutmix': 'CutMix', 'mixskd': 'MixSKD', 'mixskd-conv': 'MixSKD (conv exits)',
          'ce-matched': 'CE at equal compute', 'mixup-matched': 'Mixup at equal compute',
          'cutmix-matched': 'CutMix at equal compute'}
MIXSKD_METHODS = ('mixskd', 'mixskd-conv')
#: ``--channels-last`` values: contiguous tensors, channels-last everywhere, or the layout timed faster per convolution
LAYOUTS = ('off', 'on', 'auto')
CHEAP_BASELINES = ('mixup', 'cutmix')
#: what every generated config starts from (``configs/_base_/``): our runtime, and the CPU schedule (SGD, a warm-up
#: epoch, cosine decay) that :func:`method_config` stretches to the comparison's epochs and learning rate
BASES = ('_base_/default_runtime.py', '_base_/schedules/cpu_sgd_cosine_10e.py')


@dataclass(frozen=True)
class Pretraining:
    """The schedule every pretraining run of a comparison shares, with what it comes to on the data.

    Attributes:
        model: A timm CNN.
        img_size: Side of the training crops.
        epochs: Training epochs.
        batch: Images per iteration.
        lr: The SGD learning rate.
        workers: Data-loader worker processes.
        topk: The k of top-k (5, or the number of classes when fewer).
        iters_per_epoch: Iterations of one epoch over the training split.
        channels_last: One of :data:`LAYOUTS` (a speed setting: results change at float rounding only).
        amp: Mixed precision (``tools/train.py --amp``).
        pretrained: The local weights file every run's backbone starts from (``None``: random weights), a resolved
            :class:`~mixskd_mm.weights.starts.Start`'s ``weights``.
        normalisation: ``(mean, std)`` on the 0-255 scale the runs normalise with (the start's ``pretrained_cfg``);
            ``None``: the training images' own statistics.
    """

    model: str
    img_size: int
    epochs: int
    batch: int
    lr: float
    workers: int
    topk: int
    iters_per_epoch: int
    channels_last: str = 'off'
    amp: bool = False
    pretrained: str | None = None
    normalisation: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @classmethod
    def on(cls, data: Mapping, **schedule) -> Pretraining:
        """The schedule on ``data`` (a data summary): ``topk`` and ``iters_per_epoch`` computed here, once.

        Args:
            data: The summary :func:`~mixskd_mm.compare.data.prepare_data` returned.
            **schedule: The other attributes.
        """
        return cls(topk=min(5, len(data['classes'])),
                   iters_per_epoch=-(-data['splits']['train']['images'] // schedule['batch']), **schedule)


def model_config(method: str, model_name: str, num_classes: int, mean: Sequence[float],
                 std: Sequence[float], layout: str = 'off', pretrained: str | None = None) -> dict:
    """The ``model`` entry of one method.

    Args:
        method: One of :data:`METHODS` (a compute-matched one gets its base method's model).
        model_name: A timm CNN (``TimmStageBackbone``'s ``model_name``).
        num_classes: Number of classes.
        mean: Per-channel mean (0-255) of the training images.
        std: Per-channel std (0-255).
        layout: One of :data:`LAYOUTS` (``--channels-last``): ``'off'`` leaves ``channels_last`` out (contiguous
            tensors), ``'on'`` sets it ``True``, ``'auto'`` sets ``'auto'``.
        pretrained: A weights file the backbone loads (``TimmStageBackbone(pretrained=...)``); MixSKD's replicated
            exits then start as copies of the loaded stages (``exit_init='copy'``, its default on loaded weights).

    Returns:
        The model config dict.

    Raises:
        ValueError: for an unknown method.
    """
    if method not in METHODS:
        raise ValueError(f'unknown method {method!r}; choose from {", ".join(METHODS)}')
    method = MATCHED.get(method, method)
    backbone: dict = dict(type='TimmStageBackbone', model_name=model_name, out_indices=(1, 2, 3, 4))
    if pretrained:
        backbone['pretrained'] = pretrained
    common = dict(backbone=backbone, num_classes=num_classes,
                  data_preprocessor=dict(type='ClsDataPreprocessor', mean=list(mean), std=list(std)))
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout {layout!r}; choose from {", ".join(LAYOUTS)}')
    if layout != 'off':
        common['channels_last'] = True if layout == 'on' else 'auto'
    if method in MIXSKD_METHODS:
        # every loss weight written out, as in configs/_base_/models/mixskd_resnet18_cifar.py: --tune sets them
        return dict(type='MixSKD', exit_type='conv' if method == 'mixskd-conv' else 'replicate', alpha=0.4,
                    ce_loss=dict(type='OriginalCELoss', loss_weight=1.0),
                    mix_ce_loss=dict(type='MixupCELoss', loss_weight=1.0),
                    kd_loss=dict(type='DistributionKDLoss', temperature=3.0, loss_weight=1.0),
                    feat_loss=dict(type='FeatureMapL2Loss', loss_weight=1.0),
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


def base_config() -> Config:
    """Our bases (:data:`BASES`), loaded as mmengine loads a leaf whose ``_base_`` lists them: where every run starts.

    Returns:
        The merged config (it holds no ``_base_``).
    """
    return Config.fromstring(f'_base_ = {[config_path(base) for base in BASES]!r}\n', '.py')


def _schedule(bases: Sequence[dict], epochs: int) -> list[dict]:
    """The base's warm-up and cosine decay stretched to ``epochs`` (no warm-up for a single epoch)."""
    warmup, decay = (copy.deepcopy(dict(scheduler)) for scheduler in bases)
    if epochs <= warmup['end']:
        return [dict(decay, begin=0, end=epochs, T_max=epochs)]
    return [warmup, dict(decay, begin=warmup['end'], end=epochs, T_max=epochs - warmup['end'])]


def method_config(method: str, data: dict, data_dir: str, pretraining: Pretraining) -> Config:
    """The complete config of a method's runs, before a run's seed and work directory (:func:`run_config`).

    It is our bases (:func:`base_config`) with the comparison's data, model, schedule length and learning rate, and
    the few runtime settings a comparison needs (each says why); the rest of the runtime is the bases'.

    Args:
        method: One of :data:`METHODS`.
        data: The summary :func:`~mixskd_mm.compare.data.prepare_data` returned.
        data_dir: The folder with ``classes.txt`` and the split lists.
        pretraining: The schedule every method shares.

    Returns:
        The config: the bases' seed, no ``work_dir``, score files without a folder.
    """
    p = pretraining
    epochs, batch, iters, topk, workers = p.epochs, p.batch, p.iters_per_epoch, p.topk, p.workers
    pipe = pipelines(p.img_size)
    mean, std = p.normalisation or (data['mean'], data['std'])
    cfg = base_config()
    cfg.merge_from_dict(dict(
        model=model_config(method, p.model, len(data['classes']), mean, std, p.channels_last, p.pretrained),
        train_dataloader=_loader(data_dir, 'train', pipe['train'], batch, workers, True),
        val_dataloader=_loader(data_dir, 'val', pipe['test'], max(batch, 64), workers, False),
        val_evaluator=_evaluator(topk, 'val_scores.npz'),
        optim_wrapper=dict(optimizer=dict(lr=p.lr)),
        param_scheduler=_schedule(cfg.param_scheduler, epochs),
        # validation every epoch: each one draws a loader seed from torch's RNG, so its frequency is part of the
        # training's random stream (and the last epoch's val_scores.npz are what the comparison chooses on)
        train_cfg=dict(max_epochs=epochs, val_interval=1),
        default_hooks=dict(
            # the report's images/s is the median of the logged timing windows: log each epoch's last iterations
            # too, and at least once an epoch, however few iterations a small data set gives
            logger=dict(interval=max(1, min(20, iters)), ignore_last=False),
            # a killed run resumes from its last epoch and tools/test.py reads the final epoch_N.pth: keep only that
            # (no best-on-val copy: the comparison scores the last epoch, the copy would be unused disk and time)
            checkpoint=dict(_delete_=True, type='CheckpointHook', interval=1, max_keep_ckpts=1)),
    ))
    if data['has_test']:
        test_loader = _loader(data_dir, 'test', pipe['test'], max(batch, 64), workers, False)
        cfg.merge_from_dict(dict(test_dataloader=test_loader, test_evaluator=_evaluator(topk, 'test_scores.npz')))
    else:  # the Runner takes test_cfg only with a test loader and evaluator
        cfg.pop('test_cfg')
    return cfg


def run_config(config: Config, seed: int, work_dir: str, overrides: dict | None = None) -> Config:
    """The complete config of one pretraining run: a copy of its method's config (:func:`method_config`).

    Args:
        config: The method's config (left unchanged).
        seed: ``randomness.seed`` of the run.
        work_dir: The run's work directory (checkpoints, logs, ``backbone.safetensors``, score files).
        overrides: ``{dotted.key: value}`` of a sweep variant, applied last.

    Returns:
        The config (its ``pretty_text`` is a complete file, no ``_base_``).
    """
    config = copy.deepcopy(config)
    config.merge_from_dict(dict(randomness=dict(seed=seed), work_dir=work_dir))
    for split in ('val', 'test'):
        for metric in config.get(f'{split}_evaluator', []):
            if metric['type'] == 'ClassificationScores':
                metric['out_file'] = osp.join(work_dir, f'{split}_scores.npz')
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
