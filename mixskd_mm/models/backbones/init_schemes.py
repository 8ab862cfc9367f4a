"""Weight initialisation schemes of :class:`TimmStageBackbone` (and of the exits that replicate it).

The MixSKD paper configs initialise like the released code (Yang et al., MixSKD, ECCV 2022, released
Self-KD-Lib), which differs from timm's ResNet defaults:

* ``'timm'``: the timm model's own initialisation, untouched. For ResNets every convolution is Kaiming-normal
  (fan_out, ReLU gain), ``W ~ N(0, 2 / (k_h k_w C_out))``, and the last BatchNorm of each residual block has
  weight 0 (timm's ``zero_init_last``), so every block starts as the identity.
* ``'kaiming'``: the released ImageNet ResNet (torchvision's scheme): every ``Conv2d`` Kaiming-normal
  (fan_out, ReLU gain), ``W ~ N(0, 2 / (k_h k_w C_out))``, convolution biases 0, every norm layer weight 1 and
  bias 0; nothing is zeroed. Other layers keep the timm model's initialisation.
* ``'torch'``: the released CIFAR ResNet: PyTorch's default initialisation of every layer (its
  ``reset_parameters()``). A ``Conv2d`` / ``Linear`` gets Kaiming-uniform with ``a = sqrt(5)``, i.e.
  ``W ~ U(-1 / sqrt(fan_in), 1 / sqrt(fan_in))`` with ``Var W = 1 / (3 fan_in)``, ``fan_in = C_in k_h k_w``;
  norm layers get weight 1, bias 0 (BatchNorm also fresh running statistics).
"""
from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _NormBase

INIT_SCHEMES = ('timm', 'kaiming', 'torch')


def check_init(init: str) -> str:
    """Validate an ``init`` option.

    Args:
        init: one of :data:`INIT_SCHEMES`.

    Returns:
        ``init`` unchanged.

    Raises:
        ValueError: an unknown scheme.
    """
    if init not in INIT_SCHEMES:
        raise ValueError(f"init must be one of {INIT_SCHEMES} ('timm': timm's own, with the last BN of each "
                         f"residual block zeroed; 'kaiming': the released ImageNet ResNet's; 'torch': PyTorch's "
                         f"layer defaults, the released CIFAR ResNet's), got {init!r}")
    return init


def apply_init(module: nn.Module, init: str) -> nn.Module:
    """Re-initialise ``module``'s layers in place with scheme ``init`` (see the module docstring).

    Args:
        module: a freshly built network (a timm model, or part of one).
        init: ``'timm'`` (leave as built), ``'kaiming'`` or ``'torch'``.

    Returns:
        ``module``.
    """
    check_init(init)
    if init == 'timm':
        return module
    for m in module.modules():
        if init == 'torch':
            reset = getattr(m, 'reset_parameters', None)
            if reset is not None and any(True for _ in m.parameters(recurse=False)):
                reset()
            continue
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (_NormBase, nn.GroupNorm, nn.LayerNorm)) and getattr(m, 'weight', None) is not None:
            nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
