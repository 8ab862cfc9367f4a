"""Stem variants of ResNet-style timm models: the CIFAR stem, and a stem without its activation."""
from __future__ import annotations

from torch import nn


def apply_cifar_stem(model: nn.Module, model_name: str, in_chans: int) -> None:
    """Replace a ResNet's 7x7 stride-2 ``conv1`` by a 3x3 stride-1 one and drop its max-pool, in place.

    The stem then keeps the input resolution (32x32 CIFAR images reach ``layer1`` at 32x32), so every later
    stage's stride is a quarter of timm's. The new convolution is Kaiming-normal (fan_out, ReLU gain), as timm
    initialises its ResNet convolutions.

    Args:
        model: a timm ResNet-style model with a single ``conv1`` convolution and a ``maxpool``.
        model_name: its timm name, for the error message.
        in_chans: input channels.

    Raises:
        ValueError: the model has no such stem (deep-stem variants, non-ResNets).
    """
    conv1 = getattr(model, 'conv1', None)
    if not isinstance(conv1, nn.Conv2d) or not hasattr(model, 'maxpool'):
        raise ValueError(f'cifar_stem needs a ResNet-style model with a single `conv1` conv and a '
                         f'`maxpool`; {model_name!r} has none (deep-stem variants are not supported)')
    conv = nn.Conv2d(in_chans, conv1.out_channels, 3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu')
    model.conv1 = conv
    model.maxpool = nn.Identity()


def remove_stem_act(model: nn.Module, model_name: str) -> None:
    """Replace the activation after the stem's BatchNorm (``act1``) by ``nn.Identity``, in place.

    With :func:`apply_cifar_stem` the stem becomes conv3x3 -> BN -> ``layer1``: the released CIFAR ResNet of
    MixSKD (Self-KD-Lib), whose stem has no ReLU. ``act1`` holds no parameters, so the state-dict keys stay.

    Args:
        model: a timm ResNet-style model whose stem ends in ``bn1`` (a BatchNorm) and ``act1``.
        model_name: its timm name, for the error message.

    Raises:
        ValueError: the model has no separate stem activation ``act1`` after a BatchNorm ``bn1``.
    """
    bn1, act1 = getattr(model, 'bn1', None), getattr(model, 'act1', None)
    if not isinstance(bn1, nn.BatchNorm2d) or not isinstance(act1, nn.Module):
        raise ValueError(f'stem_act=False needs a ResNet-style stem whose BatchNorm `bn1` is followed by a separate '
                         f'activation `act1`; {model_name!r} has no such stem (bn1: {type(bn1).__name__}, act1: '
                         f'{type(act1).__name__})')
    model.act1 = nn.Identity()
