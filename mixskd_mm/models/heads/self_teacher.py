"""The MixSKD self-teacher: aggregates the final feature maps of all exits into soft labels."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mixskd_mm.registry import MODELS

from .linear_cls_head import global_pool


@MODELS.register_module()
class SelfTeacher(nn.Module):
    """``h(F_1..F_K) = fc(GAP(conv1x1(concat_k F_k)))`` (Yang et al., MixSKD, ECCV 2022, Sec. 3).

    The 1x1 convolution ``W`` (C x K*C, no bias, as in the released code) maps the K concatenated feature
    maps (K * C channels) back to C channels, then global average pooling and a linear classifier give
    logits::

        h(F_1..F_K) = fc(GAP(W * concat_k F_k)) = fc(sum_k W_k GAP(F_k)),   W = [W_1 .. W_K]

    A bias-free 1x1 convolution commutes with global average pooling, so the module pools each F_k first
    and applies ``W`` to the pooled (B, K * C) vector: the same function, without materialising the
    (B, K * C, H, W) concatenation. Inputs may therefore be maps (B, C, H, W) or pooled features (B, C).
    For ResNet-18 (C = 512, K = 4) and 100 classes it holds 2048 * 512 + 512 * 100 + 100 = 1,099,876
    parameters.

    Args:
        in_channels: channels C of every exit's final feature map.
        num_exits: K.
        num_classes: number of classes.

    Example:
        >>> h = SelfTeacher(512, 4, 100)
        >>> h([torch.zeros(2, 512, 4, 4)] * 4).shape
        torch.Size([2, 100])
    """

    def __init__(self, in_channels: int, num_exits: int, num_classes: int) -> None:
        super().__init__()
        self.num_exits = num_exits
        self.fuse = nn.Conv2d(in_channels * num_exits, in_channels, kernel_size=1, bias=False)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(feats) != self.num_exits:
            raise ValueError(f'SelfTeacher expects {self.num_exits} feature maps, got {len(feats)}')
        pooled = torch.cat([global_pool(f) for f in feats], dim=1)
        fused = nn.functional.linear(pooled, self.fuse.weight.flatten(1))
        return self.fc(fused)
