"""Cross-entropy of every exit on the original (un-mixed) images."""
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from mixskd_mm.registry import MODELS

from ._base import WeightedLoss


@MODELS.register_module()
class OriginalCELoss(WeightedLoss):
    """Cross-entropy on the original images, summed over exits (MixSKD loss term 1).

    ``L_ce = sum_{k=1..K} CE(z_k(x), y)``, each CE a mean over the batch, where ``z_k(x)`` are the
    logits of exit ``k`` (auxiliary exits ``1..K-1`` and the backbone exit ``K``) on the originals.

    From C. Yang et al., "MixSKD: Self-Knowledge Distillation from Mixup for Image Recognition",
    ECCV 2022 (arXiv 2208.05768).

    Args:
        loss_weight: Factor applied to the cross-entropy sum over exits.
        loss_name: Log key of the term (default ``'loss_ce'``).

    Example:
        >>> import torch
        >>> from mixskd_mm.models.losses import OriginalCELoss
        >>> logits = [torch.randn(4, 10) for _ in range(4)]  # K = 4 exits, B = 4, 10 classes
        >>> OriginalCELoss()(logits, torch.tensor([0, 1, 2, 3])).shape
        torch.Size([])
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_ce') -> None:
        super().__init__(loss_weight, loss_name)

    def forward(self, logits: Sequence[Tensor], target: Tensor) -> Tensor:
        """Compute the weighted loss.

        Args:
            logits: Logits of each exit on the originals, each of shape (B, num_classes).
            target: Class indices, shape (B,).

        Returns:
            Scalar fp32 tensor.
        """
        if len(logits) == 0:
            raise ValueError('OriginalCELoss needs the logits of at least one exit')
        # typeshed types sum() as starting at the int 0; 0 + tensor is a tensor
        loss: Tensor = sum(F.cross_entropy(z.float(), target) for z in logits)  # type: ignore[assignment]
        return self.loss_weight * loss
