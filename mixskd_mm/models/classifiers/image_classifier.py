"""A timm backbone + linear classifier; the CE, Mixup and CutMix baselines; the deployable model."""
from __future__ import annotations

import copy
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from mixskd_mm.registry import MODELS

from ..heads import LinearClsHead
from ..losses import mixed_ce
from ._mixing import cutmix, mixup, sample_pairs

DEFAULT_PREPROCESSOR = dict(type='mixskd_mm.ClsDataPreprocessor')


def predictions(scores: Dict[str, torch.Tensor], labels: Optional[torch.Tensor]) -> List[dict]:
    """Per-sample ``dict(pred_scores={name: probs}, gt_label=int)`` from batched logits by exit name."""
    probs = {name: F.softmax(s.float(), dim=1).detach().cpu() for name, s in scores.items()}
    n = next(iter(probs.values())).shape[0]
    out = []
    for i in range(n):
        item = dict(pred_scores={name: p[i] for name, p in probs.items()})
        if labels is not None:
            item['gt_label'] = int(labels[i])
        out.append(item)
    return out


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
        channels_last: keep the 4-d weights and run the batches in ``torch.channels_last`` memory format (faster
            convolutions on CPUs with oneDNN and on GPUs with AMP); the values are the same up to float rounding.
            The pretraining configs turn it on; ``False`` keeps PyTorch's contiguous format.

    Example:
        >>> m = ImageClassifier(dict(type='TimmStageBackbone', model_name='test_resnet'), num_classes=10)
        >>> m(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, backbone: Dict, num_classes: int, mix: Optional[str] = None, alpha: float = 1.0,
                 data_preprocessor: Optional[Dict] = None, init_cfg: Optional[Dict] = None,
                 channels_last: bool = False) -> None:
        super().__init__(data_preprocessor=data_preprocessor or copy.deepcopy(DEFAULT_PREPROCESSOR),
                         init_cfg=init_cfg)
        if mix not in (None, 'mixup', 'cutmix'):
            raise ValueError(f"mix must be None, 'mixup' or 'cutmix', got {mix!r}")
        self.backbone = MODELS.build(backbone)
        self.num_classes = num_classes
        self.mix = mix
        self.alpha = alpha
        self.head = LinearClsHead(self.backbone.out_channels[-1], num_classes)
        self.channels_last = channels_last
        self.apply_memory_format()

    def apply_memory_format(self) -> None:
        """Put the 4-d parameters and buffers in the memory format ``channels_last`` asks for (the same tensors,
        so an optimiser built before keeps them). Subclasses call it again once they have built their parts."""
        if self.channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, inputs: torch.Tensor, data_samples: Optional[torch.Tensor] = None, mode: str = 'tensor'):
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.head(self.backbone(inputs)[-1])
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        if self.mix is None:
            return dict(loss_ce=F.cross_entropy(self(inputs).float(), targets))
        lam, perm = sample_pairs(inputs.size(0), self.alpha, inputs.device)
        if self.mix == 'mixup':
            mixed = mixup(inputs, lam, perm)
        else:
            mixed, lam = cutmix(inputs, lam, perm)
        return {f'loss_{self.mix}_ce': mixed_ce(self(mixed), targets, targets[perm], lam)}

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, targets: Optional[torch.Tensor] = None) -> List[dict]:
        return predictions(dict(backbone=self(inputs)), targets)
