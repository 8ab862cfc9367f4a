"""Adversarial feature loss: per-exit discriminators trained through a gradient-reversal layer."""
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mixskd_mm.registry import MODELS

from ._base import WeightedLoss
from .functional import zero_loss


class _GradReverse(torch.autograd.Function):
    """Identity in the forward pass; multiplies the incoming gradient by -1 in the backward pass."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        return -grad_output


def grad_reverse(x: Tensor) -> Tensor:
    """Gradient-reversal layer: returns ``x`` unchanged, and ``-grad`` flows back into ``x``.

    Args:
        x: Any tensor.

    Returns:
        A tensor equal to ``x``.
    """
    return _GradReverse.apply(x)


@MODELS.register_module()
class AdversarialFeatureLoss(WeightedLoss):
    """Adversarial alignment of the interpolated and Mixup feature maps (MixSKD loss term 5).

    Each exit ``k`` has a discriminator ``D_k: Linear(C, hidden) -> ReLU -> Linear(hidden, 1)`` on
    globally average-pooled features. With ``g`` a gradient-reversal layer (identity forward, ``-grad``
    backward), ``d^_ki = D_k(g(pool(F^_k))_i)`` and ``d~_ki = D_k(g(pool(F~_k))_i)`` the discriminator
    logits of sample ``i`` in the two views, and one binary cross-entropy mean over both views (2B outputs),
    as in the released code::

        L_adv = sum_{k=1..K} 1/(2B) sum_{i=1..B} [softplus(-d^_ki) + softplus(d~_ki)]
              = sum_{k=1..K} 1/2 [BCE(d^_k, 1) + BCE(d~_k, 0)]

    (``BCE(d, 1) = mean softplus(-d)``, ``BCE(d, 0) = mean softplus(d)``), so ``loss_weight=1`` gives the
    released magnitude.

    One backward pass of ``L_adv`` therefore trains the discriminators to tell ``F^_k`` (label 1) from
    ``F~_k`` (label 0) while the network, receiving the reversed gradient, learns to fool them. The
    discriminators are registered submodules, so the optimiser built from ``model.parameters()``
    trains them and checkpoints save them (the released code kept them in a plain list, untrained).
    ``loss_weight`` scales the gradients of both players.

    From C. Yang et al., "MixSKD: Self-Knowledge Distillation from Mixup for Image Recognition",
    ECCV 2022 (arXiv 2208.05768).

    Args:
        in_channels: Channels ``C`` of every exit's final feature map.
        num_exits: Number of exits ``K``, one discriminator each.
        hidden: Width of the discriminators' hidden layer.
        loss_weight: Factor applied to the loss summed over exits; 0 builds no discriminators and returns zero.
        loss_name: Log key of the term (default ``'loss_adv'``).

    Example:
        >>> import torch
        >>> from mixskd_mm.models.losses import AdversarialFeatureLoss
        >>> loss = AdversarialFeatureLoss(in_channels=8, num_exits=4)
        >>> interp = [torch.randn(4, 8, 2, 2) for _ in range(4)]
        >>> mixup = [torch.randn(4, 8, 2, 2) for _ in range(4)]
        >>> loss(interp, mixup).shape
        torch.Size([])
    """

    def __init__(self, in_channels: int, num_exits: int, hidden: int = 128, loss_weight: float = 1.0,
                 loss_name: str = 'loss_adv') -> None:
        super().__init__(loss_weight, loss_name)
        self.in_channels = in_channels
        self.num_exits = num_exits
        num_discriminators = 0 if loss_weight == 0 else num_exits
        self.discriminators = nn.ModuleList(
            nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))
            for _ in range(num_discriminators))

    @staticmethod
    def _pool(feat: Tensor) -> Tensor:
        """Global average pool (B, C, *spatial) -> (B, C); (B, C) passes through."""
        return feat.flatten(2).mean(dim=2) if feat.dim() > 2 else feat

    def forward(self, interp_feats: Sequence[Tensor], mixup_feats: Sequence[Tensor]) -> Tensor:
        """Compute the weighted loss.

        Args:
            interp_feats: Interpolated feature maps ``F^_1..F^_K``, each (B, C, H, W) or pooled (B, C).
            mixup_feats: Mixup-view feature maps ``F~_1..F~_K``, same order and shapes.

        Returns:
            Scalar fp32 tensor.
        """
        if len(interp_feats) != self.num_exits or len(mixup_feats) != self.num_exits:
            raise ValueError(f'expected {self.num_exits} interpolated and Mixup feature maps, got '
                             f'{len(interp_feats)} and {len(mixup_feats)}')
        if self.loss_weight == 0:
            return zero_loss(list(interp_feats) + list(mixup_feats))
        loss = interp_feats[0].new_zeros((), dtype=torch.float32)
        # The discriminators run in fp32 even inside an autocast region.
        with torch.autocast(device_type=interp_feats[0].device.type, enabled=False):
            for disc, f_interp, f_mixup in zip(self.discriminators, interp_feats, mixup_feats):
                pooled = torch.cat([self._pool(f_interp.float()), self._pool(f_mixup.float())])
                logits = disc(grad_reverse(pooled))  # (2B, 1): interpolated view first, label 1; Mixup view 0
                labels = torch.cat([logits.new_ones(f_interp.size(0), 1), logits.new_zeros(f_mixup.size(0), 1)])
                loss = loss + F.binary_cross_entropy_with_logits(logits, labels)
        return self.loss_weight * loss
