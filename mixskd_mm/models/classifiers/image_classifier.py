"""A timm backbone + linear classifier; the CE, Mixup and CutMix baselines; the deployable model."""
from __future__ import annotations

import copy
import logging
from typing import Any

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel

from mixskd_mm.registry import MODELS

from .. import memory_format
from ..losses import mixed_ce
from ._mixing import cutmix, mixup, sample_pairs

DEFAULT_PREPROCESSOR = dict(type='mixskd_mm.ClsDataPreprocessor')
DEFAULT_HEAD = dict(type='LinearClsHead')


def scoped(cfg: dict, **filled) -> dict:
    """A copy of the registry config ``cfg`` with ``filled`` added and a bare ``type`` put in ``mixskd_mm``'s scope.

    Example:
        >>> scoped(dict(type='LinearClsHead'), num_classes=10)
        {'type': 'mixskd_mm.LinearClsHead', 'num_classes': 10}
    """
    cfg = dict(copy.deepcopy(dict(cfg)), **filled)
    if '.' not in cfg['type']:
        cfg['type'] = 'mixskd_mm.' + cfg['type']
    return cfg


def predictions(scores: dict[str, torch.Tensor], labels: torch.Tensor | None) -> list[dict]:
    """Per-sample ``dict(pred_scores={name: probs}, gt_label=int)`` from batched logits by exit name."""
    probs = {name: F.softmax(s.float(), dim=1).detach().cpu() for name, s in scores.items()}
    n = next(iter(probs.values())).shape[0]
    out = []
    for i in range(n):
        item: dict[str, Any] = dict(pred_scores={name: p[i] for name, p in probs.items()})
        if labels is not None:
            item['gt_label'] = int(labels[i])
        out.append(item)
    return out


def check_normalisation(backbone: torch.nn.Module, preprocessor: torch.nn.Module) -> None:
    """Log the normalisation the loaded weights were trained with beside the data preprocessor's, and warn when they
    differ. The preprocessor's (the config's) wins: a fine-tune may mean to differ; the configs and
    ``tools/compare.py`` write the source's values (``pretrained_cfg``, :mod:`mixskd_mm.weights.starts`)."""
    cfg = getattr(backbone, 'pretrained_cfg', None) or {}
    if cfg.get('mean') is None:
        return
    source = [round(m * 255, 3) for m in cfg['mean']], [round(s * 255, 3) for s in cfg['std']]
    ours = None
    if getattr(preprocessor, 'normalize', False):
        ours = ([round(float(m), 3) for m in preprocessor.get_buffer('mean').flatten()],
                [round(float(s), 3) for s in preprocessor.get_buffer('std').flatten()])
    message = (f'normalisation: the weights from {backbone.weights_source} were trained with mean={source[0]} '
               f'std={source[1]} (0-255); the data preprocessor uses '
               + (f'mean={ours[0]} std={ours[1]}' if ours else 'none (raw 0-255 values)'))
    same = ours is not None and all(abs(a - b) < 0.01 for x, y in zip(ours, source) for a, b in zip(x, y))
    if same:
        print_log(message, logger='current')
    else:
        print_log(message + '. Set model.data_preprocessor.mean/std to the weights\' values unless you mean to '
                  'differ.', logger='current', level=logging.WARNING)


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """``head(backbone(x)[-1])`` trained with cross-entropy, optionally on Mixup or CutMix batches.

    This is the plain baseline of every MixSKD comparison (one config switch away) and the deployable
    form of a MixSKD model (:meth:`MixSKD.to_deployable`).

    Args:
        backbone: backbone config, e.g. ``dict(type='TimmStageBackbone', model_name='resnet18')``.
        num_classes: number of classes.
        mix: ``None`` (plain CE), ``'mixup'`` or ``'cutmix'``.
        alpha: Beta(alpha, alpha) concentration of the mixing coefficient.
        data_preprocessor: defaults to ``ClsDataPreprocessor`` without normalisation.
        init_cfg: mmengine init config.
        head: the classifier's config, built through ``MODELS`` with ``in_channels`` and ``num_classes`` filled in
            (default ``dict(type='LinearClsHead')``: global average pooling and a linear layer).
        channels_last: ``True`` keeps the 4-d weights and runs the batches in ``torch.channels_last`` memory format
            (faster convolutions on GPUs with AMP, and on CPUs with oneDNN where the maps are large); the values are
            the same up to float rounding. The pretraining configs turn it on; ``False`` keeps PyTorch's contiguous
            format. ``'auto'`` runs each convolution in the format measured faster for its shape on this machine
            (:mod:`mixskd_mm.models.memory_format`; choices are timed per process, so runs agree to rounding).
            This argument alone decides the memory layout of weights and batches (README, Performance): the configs
            and ``tools/compare.py --channels-last`` set it, and a data preprocessor with its own
            ``channels_last=True`` is refused.

    Example:
        >>> m = ImageClassifier(dict(type='TimmStageBackbone', model_name='test_resnet'), num_classes=10)
        >>> m(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, backbone: dict, num_classes: int, mix: str | None = None, alpha: float = 1.0,
                 data_preprocessor: dict | None = None, init_cfg: dict | None = None,
                 channels_last: bool | str = False, head: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor or copy.deepcopy(DEFAULT_PREPROCESSOR),
                         init_cfg=init_cfg)
        if mix not in (None, 'mixup', 'cutmix'):
            raise ValueError(f"mix must be None, 'mixup' or 'cutmix', got {mix!r}")
        if channels_last not in (True, False, 'auto'):
            raise ValueError(f"channels_last must be True, False or 'auto' (each convolution in the format timed "
                             f'faster for its shape), got {channels_last!r}')
        if getattr(self.data_preprocessor, 'channels_last', False):
            raise ValueError(f'data_preprocessor.channels_last=True: the memory layout is decided by the model alone; '
                             f'remove it from the data preprocessor and set model.channels_last=True (now '
                             f"{channels_last!r}; False and 'auto' are the other choices)")
        self.backbone = MODELS.build(backbone)
        check_normalisation(self.backbone, self.data_preprocessor)
        self.num_classes = num_classes
        self.mix = mix
        self.alpha = alpha
        self.head_cfg = copy.deepcopy(head or DEFAULT_HEAD)
        self.head = MODELS.build(scoped(self.head_cfg, in_channels=self.backbone.out_channels[-1],
                                        num_classes=num_classes))
        self.channels_last = channels_last if channels_last == 'auto' else bool(channels_last)
        self.apply_memory_format()

    def apply_memory_format(self) -> None:
        """Put the 4-d parameters and buffers in the memory format ``channels_last`` asks for (the same tensors,
        so an optimiser built before keeps them), or with ``'auto'`` give every convolution its format hook (the
        weights stay contiguous). Subclasses call it again once they have built their parts."""
        if self.channels_last == 'auto':
            memory_format.attach(self)
        elif self.channels_last:
            self.to(memory_format=torch.channels_last)

    def tune_memory_formats(self) -> None:
        """With ``channels_last='auto'``, time the convolution shapes met since the last call (see
        :mod:`mixskd_mm.models.memory_format`). Runs at the start of every top-level call (``forward``, ``loss``),
        so a choice never changes within a step or its recomputation."""
        if self.channels_last == 'auto':
            memory_format.tune_pending()

    def forward(self, inputs: torch.Tensor, data_samples: torch.Tensor | None = None, mode: str = 'tensor'):
        self.tune_memory_formats()
        if self.channels_last is True and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if mode == 'loss':
            if data_samples is None:
                raise ValueError("mode='loss' needs data_samples (the labels)")
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.head(self.backbone(inputs)[-1])
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        self.tune_memory_formats()
        if self.mix is None:
            return dict(loss_ce=F.cross_entropy(self(inputs).float(), targets))
        lam, perm = sample_pairs(inputs.size(0), self.alpha, inputs.device)
        if self.mix == 'mixup':
            mixed = mixup(inputs, lam, perm)
        else:
            mixed, lam = cutmix(inputs, lam, perm)
        return {f'loss_{self.mix}_ce': mixed_ce(self(mixed), targets, targets[perm], lam)}

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> list[dict]:
        return predictions(dict(backbone=self(inputs)), targets)
