"""A cheap auxiliary exit: depthwise-separable stride-2 blocks up to the final stride and channels."""
from __future__ import annotations

import math

from torch import nn

from mixskd_mm.registry import MODELS


def _separable_block(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise 3x3 (stride ``stride``) - BN, then pointwise 1x1 ``cin -> cout`` - BN - ReLU."""
    layers = []
    if stride > 1:
        layers += [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin)]
    layers += [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


@MODELS.register_module()
class ConvExit(nn.Sequential):
    """A cheap exit: depthwise-separable stride-2 blocks up to the final stride and channels.

    One block per halving between stage k and the last stage: a depthwise 3x3 stride-2 convolution and
    BN, then a pointwise 1x1 convolution and BN-ReLU (MobileNet's separable block, Howard et al. 2017),
    channels doubling from ``in_channels`` and capped at ``out_channels`` (the last block outputs
    ``out_channels``); where the strides already match (a dilated backbone) a single 1x1 block adapts the
    channels. Its cost is a few per cent of the backbone's: for ImageNet ResNet-50 the three exits
    together take ~0.6 GMACs per image against the backbone's 4.1 (replicated tails: 6.4; full 3x3
    strided convolutions would take 5.5). This is our documented deviation from the paper's replicated
    stages, for models where copying the tail is too costly; the paper-reproduction configs keep
    ``exit_type='replicate'``.

    Args:
        in_channels: channels of stage k.
        out_channels: channels of the final stage (C_K).
        stride_ratio: final stride / stage-k stride (a power of two).

    Example:
        >>> ConvExit(64, 512, 8)(torch.zeros(2, 64, 32, 32)).shape
        torch.Size([2, 512, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, stride_ratio: int) -> None:
        steps = int(round(math.log2(stride_ratio))) if stride_ratio > 1 else 0
        if 2 ** steps != max(stride_ratio, 1):
            raise ValueError(f'stride_ratio must be a power of two, got {stride_ratio}')
        blocks, cin = [], in_channels
        for i in range(steps):
            cout = out_channels if i == steps - 1 else min(cin * 2, out_channels)
            blocks.append(_separable_block(cin, cout, 2))
            cin = cout
        if not blocks:
            blocks.append(_separable_block(cin, out_channels, 1))
        super().__init__(*blocks)

    @classmethod
    def backbone_args(cls, backbone, stage: int) -> dict:
        """The arguments of the exit after timm stage ``stage`` of a built ``TimmStageBackbone``: that stage's
        channels, the final stage's channels and the ratio of their strides."""
        final = backbone.out_indices[-1]
        return dict(in_channels=backbone.stage_channels[stage], out_channels=backbone.stage_channels[final],
                    stride_ratio=backbone.stage_strides[final] // backbone.stage_strides[stage])
