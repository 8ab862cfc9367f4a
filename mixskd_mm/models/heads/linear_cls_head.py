"""Global average pooling + linear classifier (every exit's classifier, and the backbone's)."""
from __future__ import annotations

import torch
from torch import nn

from mixskd_mm.registry import MODELS


def global_pool(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C) by averaging; (B, C) passes through."""
    return x.mean(dim=(2, 3)) if x.dim() == 4 else x


@MODELS.register_module()
class LinearClsHead(nn.Module):
    """``fc(global_avg_pool(F))``: the classifier of a timm CNN, as a separate module.

    Args:
        in_channels: channels of the feature map.
        num_classes: number of classes.

    Example:
        >>> head = LinearClsHead(512, 100)
        >>> head(torch.zeros(2, 512, 4, 4)).shape
        torch.Size([2, 100])
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits from a feature map (B, C, H, W) or already pooled features (B, C)."""
        return self.fc(global_pool(x))
