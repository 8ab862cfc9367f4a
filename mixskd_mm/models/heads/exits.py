"""Auxiliary exits: modules that carry stage k's feature map to a final feature map like F_K."""
from __future__ import annotations

import copy
import math
from collections import OrderedDict
from typing import Dict

from torch import nn

from mixskd_mm.registry import MODELS

from ..backbones.timm_stage_backbone import TimmStageBackbone


@MODELS.register_module()
class ReplicateExit(nn.Sequential):
    """The paper's exit: a fresh, unshared copy of every backbone unit after stage ``stage``.

    The copy comes from a new instance of the same timm model, built with the backbone's own options
    (``cifar_stem``, ``stem_act``, ``init``, ``output_stride``...): its own random initialisation by the
    backbone's ``init`` scheme (``'torch'`` in the CIFAR paper config, ``'kaiming'`` in the ImageNet one,
    so no exit zeroes the last BN of its blocks either). Exit k therefore ends in a feature map of exactly
    the backbone's final shape, with no adapter layers (Yang et al., MixSKD, ECCV 2022, Sec. 3; BYOT-style
    exits). Only weights loading and training options (``pretrained``, ``init_cfg``, ``frozen_stages``,
    ``norm_eval``, ``with_cp``) are not copied.

    Args:
        backbone_cfg: the backbone's config (``TimmStageBackbone`` arguments).
        stage: the timm stage index the exit starts after.

    Example:
        >>> e = ReplicateExit(dict(model_name='resnet18', cifar_stem=True), stage=3)
        >>> e(torch.zeros(2, 256, 8, 8)).shape
        torch.Size([2, 512, 4, 4])
    """

    def __init__(self, backbone_cfg: Dict, stage: int) -> None:
        cfg = {k: v for k, v in backbone_cfg.items()
               if k not in ('type', 'pretrained', 'init_cfg', 'frozen_stages', 'norm_eval', 'with_cp')}
        fresh = TimmStageBackbone(**cfg)
        if stage not in fresh.out_indices[:-1]:
            raise ValueError(f'exit stage {stage} must be one of the non-final out_indices {fresh.out_indices[:-1]}')
        first = fresh.stage_unit_index[stage] + 1
        last = fresh.stage_unit_index[fresh.out_indices[-1]]
        units = OrderedDict((name.replace('.', '_'), fresh.get_submodule(name)) for name in fresh.units[first:last + 1])
        super().__init__(units)
        self.stage = stage


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


def build_exit(exit_type: str, backbone: TimmStageBackbone, backbone_cfg: Dict, stage: int) -> nn.Module:
    """Build the exit that starts after timm stage ``stage`` of ``backbone``.

    Args:
        exit_type: ``'replicate'`` (paper) or ``'conv'`` (cheap, :class:`ConvExit`).
        backbone: the built backbone (gives channels and strides).
        backbone_cfg: its config, for ``replicate``.
        stage: timm stage index.
    """
    if exit_type == 'replicate':
        return ReplicateExit(copy.deepcopy(dict(backbone_cfg)), stage)
    if exit_type == 'conv':
        final = backbone.out_indices[-1]
        return ConvExit(backbone.stage_channels[stage], backbone.stage_channels[final],
                        backbone.stage_strides[final] // backbone.stage_strides[stage])
    raise ValueError(f"exit_type must be 'replicate' or 'conv', got {exit_type!r}")
