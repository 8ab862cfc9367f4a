"""Distillation of class distributions between the interpolated and the Mixup view."""
from collections.abc import Sequence

from torch import Tensor

from mixskd_mm.registry import MODELS

from ._base import WeightedLoss
from .functional import kd_loss


@MODELS.register_module()
class DistributionKDLoss(WeightedLoss):
    """Class-distribution distillation between the two views (MixSKD loss term 3).

    With ``KD(s <- t) = T^2 * batch-mean KL(softmax(t / T) || softmax(s / T))``, teacher detached::

        L_kd = KD(z^_K <- t~) + KD(z~_K <- t^)                         # backbone exit, crosswise
             + sum_{k=1..K-1} [KD(z^_k <- z~_k) + KD(z~_k <- z^_k)]   # auxiliary exits, mutual

    ``z^_k = lam * z_k(x) + (1 - lam) * z_k(x)[p]`` is the interpolation of exit ``k``'s logits on the
    originals, ``z~_k = z_k(x~)`` its logits on the Mixup images, and ``t^`` / ``t~`` the self-teacher's
    logits on the interpolated / Mixup feature maps. The backbone exit of each view is taught by the
    self-teacher of the *other* view. No gradient reaches a teacher side, so the self-teacher is trained
    only by the Mixup cross-entropy.

    From C. Yang et al., "MixSKD: Self-Knowledge Distillation from Mixup for Image Recognition",
    ECCV 2022 (arXiv 2208.05768).

    Args:
        temperature: Softmax temperature ``T``.
        loss_weight: Factor applied to the KD sum over exits and the self-teacher.
        loss_name: Log key of the term (default ``'loss_kd'``).

    Example:
        >>> import torch
        >>> from mixskd_mm.models.losses import DistributionKDLoss
        >>> loss = DistributionKDLoss(temperature=3.0)
        >>> interp = [torch.randn(4, 10) for _ in range(4)]  # exits 1..K, backbone last
        >>> mixup = [torch.randn(4, 10) for _ in range(4)]
        >>> loss(interp, mixup, torch.randn(4, 10), torch.randn(4, 10)).shape
        torch.Size([])
    """

    def __init__(self, temperature: float = 3.0, loss_weight: float = 1.0, loss_name: str = 'loss_kd') -> None:
        super().__init__(loss_weight, loss_name)
        if temperature <= 0:
            raise ValueError(f'temperature must be positive, got {temperature}')
        self.temperature = temperature

    def forward(self, interp_logits: Sequence[Tensor], mixup_logits: Sequence[Tensor], teacher_interp: Tensor,
                teacher_mixup: Tensor) -> Tensor:
        """Compute the weighted loss.

        Args:
            interp_logits: Interpolated logits ``z^_1..z^_K``, each (B, num_classes); the last one is the
                backbone exit.
            mixup_logits: Mixup-view logits ``z~_1..z~_K`` in the same order.
            teacher_interp: Self-teacher logits ``t^`` on the interpolated feature maps, (B, num_classes).
            teacher_mixup: Self-teacher logits ``t~`` on the Mixup feature maps, (B, num_classes).

        Returns:
            Scalar fp32 tensor.
        """
        if len(interp_logits) != len(mixup_logits) or len(interp_logits) == 0:
            raise ValueError('interp_logits and mixup_logits must hold the same, non-zero number of exits, got '
                             f'{len(interp_logits)} and {len(mixup_logits)}')
        temp = self.temperature
        loss = kd_loss(interp_logits[-1], teacher_mixup, temp) + kd_loss(mixup_logits[-1], teacher_interp, temp)
        for z_interp, z_mixup in zip(interp_logits[:-1], mixup_logits[:-1]):
            loss = loss + kd_loss(z_interp, z_mixup, temp) + kd_loss(z_mixup, z_interp, temp)
        return self.loss_weight * loss
