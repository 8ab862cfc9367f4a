"""Mean squared distance between the interpolated and the Mixup feature maps."""
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mixskd_mm.registry import MODELS

from ._base import WeightedLoss


@MODELS.register_module()
class FeatureMapL2Loss(WeightedLoss):
    """Feature-map distillation between the two views (MixSKD loss term 4).

    ``L_feat = sum_{k=1..K} MSE(F^_k, F~_k)``, each MSE a mean over all elements, where
    ``F^_k = lam * F_k(x) + (1 - lam) * F_k(x)[p]`` interpolates exit ``k``'s final feature map on the
    originals and ``F~_k = F_k(x~)`` is that map on the Mixup images. Neither side is detached: the
    two views pull towards each other.

    From C. Yang et al., "MixSKD: Self-Knowledge Distillation from Mixup for Image Recognition",
    ECCV 2022 (arXiv 2208.05768).

    Args:
        loss_weight: Factor applied to the MSE sum over exits.
        loss_name: Log key of the term (default ``'loss_feat'``).

    Example:
        >>> import torch
        >>> from mixskd_mm.models.losses import FeatureMapL2Loss
        >>> loss = FeatureMapL2Loss()
        >>> interp = [torch.randn(4, 8, 2, 2) for _ in range(4)]
        >>> mixup = [torch.randn(4, 8, 2, 2) for _ in range(4)]
        >>> loss(interp, mixup).shape
        torch.Size([])
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_feat') -> None:
        super().__init__(loss_weight, loss_name)

    def forward(self, interp_feats: Sequence[Tensor], mixup_feats: Sequence[Tensor]) -> Tensor:
        """Compute the weighted loss.

        Args:
            interp_feats: Interpolated feature maps ``F^_1..F^_K``, each (B, C, H, W).
            mixup_feats: Mixup-view feature maps ``F~_1..F~_K``, same order and shapes.

        Returns:
            Scalar fp32 tensor.
        """
        if len(interp_feats) != len(mixup_feats) or len(interp_feats) == 0:
            raise ValueError('interp_feats and mixup_feats must hold the same, non-zero number of exits, got '
                             f'{len(interp_feats)} and {len(mixup_feats)}')
        loss = interp_feats[0].new_zeros((), dtype=torch.float32)
        for f_interp, f_mixup in zip(interp_feats, mixup_feats):
            if f_interp.shape != f_mixup.shape:
                raise ValueError(f'feature maps differ in shape: {tuple(f_interp.shape)} vs {tuple(f_mixup.shape)}')
            loss = loss + F.mse_loss(f_interp.float(), f_mixup.float())
        return self.loss_weight * loss
