"""Cross-entropy against the Mixup targets, for every exit and for the self-teacher."""
from collections.abc import Sequence
from typing import Union

from torch import Tensor

from mixskd_mm.registry import MODELS

from ._base import WeightedLoss
from .functional import mixed_ce, zero_loss


@MODELS.register_module()
class MixupCELoss(WeightedLoss):
    """Mixup cross-entropy of every exit and of the self-teacher (MixSKD loss term 2).

    With ``MCE(z) = lam * CE(z, y) + (1 - lam) * CE(z, y[p])``::

        L_mix_ce = sum_{k=1..K} MCE(z~_k) + MCE(t^) + MCE(t~)

    where ``z~_k`` are the logits of exit ``k`` on the Mixup images ``x~ = lam * x + (1 - lam) * x[p]``,
    ``t^`` the self-teacher's logits on the interpolated feature maps and ``t~`` those on the Mixup
    feature maps. The two self-teacher terms are what train the self-teacher head.

    From C. Yang et al., "MixSKD: Self-Knowledge Distillation from Mixup for Image Recognition",
    ECCV 2022 (arXiv 2208.05768). The paper's objective and the released ImageNet script include
    this term; the released CIFAR script computes it but never adds it (its self-teacher stays
    random). To reproduce that script set ``loss_weight=0``: the term is then skipped and a zero is
    returned that still touches every input's graph, so all parameters count as used under DDP.

    Args:
        include_self_teacher: Whether ``MCE(t^) + MCE(t~)`` is part of the loss.
        loss_weight: Factor applied to the summed loss; 0 switches the term off.
        loss_name: Log key of the term (default ``'loss_mix_ce'``).

    Example:
        >>> import torch
        >>> from mixskd_mm.models.losses import MixupCELoss
        >>> loss = MixupCELoss()
        >>> mixup_logits = [torch.randn(4, 10) for _ in range(4)]
        >>> teacher_logits = [torch.randn(4, 10), torch.randn(4, 10)]  # t^, t~
        >>> y = torch.tensor([0, 1, 2, 3])
        >>> loss(mixup_logits, teacher_logits, y, y[[1, 0, 3, 2]], 0.7).shape
        torch.Size([])
    """

    def __init__(self, include_self_teacher: bool = True, loss_weight: float = 1.0,
                 loss_name: str = 'loss_mix_ce') -> None:
        super().__init__(loss_weight, loss_name)
        self.include_self_teacher = include_self_teacher

    def forward(self, mixup_logits: Sequence[Tensor], teacher_logits: Sequence[Tensor], target: Tensor,
                target_perm: Tensor, lam: Union[float, Tensor]) -> Tensor:
        """Compute the weighted loss.

        Args:
            mixup_logits: Logits ``z~_k`` of each exit on the Mixup images, each (B, num_classes).
            teacher_logits: Self-teacher logits, usually ``(t^, t~)``, each (B, num_classes); ignored
                when ``include_self_teacher`` is False.
            target: Class indices ``y``, shape (B,).
            target_perm: Permuted class indices ``y[p]``, shape (B,).
            lam: Mixup coefficient, a float or a 0-dim tensor.

        Returns:
            Scalar fp32 tensor.
        """
        if len(mixup_logits) == 0:
            raise ValueError('MixupCELoss needs the Mixup-view logits of at least one exit')
        if self.loss_weight == 0:
            return zero_loss(list(mixup_logits) + list(teacher_logits))
        logits = list(mixup_logits) + (list(teacher_logits) if self.include_self_teacher else [])
        # typeshed types sum() as starting at the int 0; 0 + tensor is a tensor
        loss: Tensor = sum(mixed_ce(z, target, target_perm, lam) for z in logits)  # type: ignore[assignment]
        return self.loss_weight * loss
