"""The common part of every MixSKD loss module: a weight and a log key."""
from torch import nn


class WeightedLoss(nn.Module):
    """A loss module whose ``forward`` returns its term already multiplied by ``loss_weight``.

    Args:
        loss_weight: Factor applied to the term.
        loss_name: Key under which the term is logged (MMEngine sums keys containing ``loss``).
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key under which the loss is logged."""
        return self._loss_name
