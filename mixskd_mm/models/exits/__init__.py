"""Auxiliary exits: modules that carry stage k's feature map to a final feature map like the backbone's F_K.

New exit types go here, one module each, and into :func:`build_exit`.
"""
from torch import nn

from ..backbones import TimmStageBackbone
from .conv_exit import ConvExit
from .replicate_exit import ReplicateExit

__all__ = ['ConvExit', 'ReplicateExit', 'build_exit']


def build_exit(exit_type: str, backbone: TimmStageBackbone, stage: int) -> nn.Module:
    """Build the exit that starts after timm stage ``stage`` of ``backbone``.

    Args:
        exit_type: ``'replicate'`` (paper, :class:`ReplicateExit` of the backbone's ``arch_args()``) or ``'conv'``
            (cheap, :class:`ConvExit` from its channels and strides).
        backbone: the built backbone.
        stage: timm stage index.
    """
    if exit_type == 'replicate':
        return ReplicateExit(backbone.arch_args(), stage)
    if exit_type == 'conv':
        final = backbone.out_indices[-1]
        return ConvExit(backbone.stage_channels[stage], backbone.stage_channels[final],
                        backbone.stage_strides[final] // backbone.stage_strides[stage])
    raise ValueError(f"exit_type must be 'replicate' or 'conv', got {exit_type!r}")
