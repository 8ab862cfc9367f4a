"""Auxiliary exits: modules that carry stage k's feature map to a final feature map like the backbone's F_K.

An exit type is one registered module (``MODELS``) with a classmethod ``backbone_args(backbone, stage)`` that
returns its constructor's arguments for the exit after timm stage ``stage`` of a built backbone. MixSKD builds every
exit through the registry from :func:`exit_config`; ``exit_type`` names the registered type, or one of the short
names of :data:`EXIT_TYPES` that the configs use. A new exit type needs its module only.
"""

from mixskd_mm.registry import MODELS

from ..backbones import TimmStageBackbone
from .conv_exit import ConvExit
from .replicate_exit import ReplicateExit

__all__ = ['EXIT_TYPES', 'ConvExit', 'ReplicateExit', 'exit_config']

#: the configs' short ``exit_type`` names and the registered exits they stand for
EXIT_TYPES = {'replicate': 'ReplicateExit', 'conv': 'ConvExit'}


def exit_config(exit_type: str, backbone: TimmStageBackbone, stage: int) -> dict:
    """The registry config of the exit that starts after timm stage ``stage`` of ``backbone``.

    Args:
        exit_type: ``'replicate'`` (paper, :class:`ReplicateExit` of the backbone's ``arch_args()``), ``'conv'``
            (cheap, :class:`ConvExit` from its channels and strides), or the name of another registered exit
            (``'MyExit'`` in ``mixskd_mm``'s scope, or ``'scope.MyExit'``).
        backbone: the built backbone.
        stage: timm stage index.

    Returns:
        ``dict(type=..., **arguments)`` for ``MODELS.build``.

    Raises:
        ValueError: if ``exit_type`` is no registered exit.

    Example:
        >>> MODELS.build(exit_config('conv', TimmStageBackbone('test_resnet'), 2))  # doctest: +SKIP
    """
    name = EXIT_TYPES.get(exit_type, exit_type)
    scoped = name if '.' in name else f'mixskd_mm.{name}'
    exit_cls = MODELS.get(scoped)
    if exit_cls is None or not hasattr(exit_cls, 'backbone_args'):
        raise ValueError(f"exit_type must be 'replicate', 'conv' or a registered exit (a module with a "
                         f"'backbone_args' classmethod), got {exit_type!r}")
    return dict(type=scoped, **exit_cls.backbone_args(backbone, stage))
