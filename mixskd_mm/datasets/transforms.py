"""Build a tensor image pipeline from config dicts, resolving names in ``torchvision.transforms.v2``."""
from collections.abc import Sequence
from typing import Any, Callable, Optional

import torch
from torchvision.transforms import v2

# Transforms that resample get ``antialias=True`` unless the config says otherwise, so that a uint8 tensor is
# resized like a PIL image would be (v2 already defaults to it; being explicit keeps old configs honest).
_ANTIALIASED = ('Resize', 'RandomResizedCrop', 'RandomResize', 'RandomShortestSize', 'ScaleJitter')


def _available_names() -> list[str]:
    """Names of the transform classes exported by ``torchvision.transforms.v2``."""
    return sorted(name for name in dir(v2) if isinstance(getattr(v2, name), type)
                  and issubclass(getattr(v2, name), (v2.Transform, v2.Compose)))


def _build_value(value: Any) -> Any:
    """Build a nested transform config (for ``RandomApply``, ``RandomChoice`` ...), leaving plain values alone."""
    if isinstance(value, dict) and 'type' in value:
        return build_transform(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) and 'type' in v for v in value):
        return [build_transform(v) for v in value]
    return value


def build_transform(cfg: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    """Build one transform from a config dict.

    Args:
        cfg: ``dict(type=NAME, **kwargs)``. ``NAME`` is a class name in ``torchvision.transforms.v2`` (for example
            ``'RandomCrop'``); ``type`` may also be a callable class, which is called with the kwargs. Values that are
            transform configs themselves (``RandomApply(transforms=[dict(...)])``) are built recursively.

    Returns:
        The transform instance.

    Raises:
        KeyError: if ``type`` is missing or names no transform in ``torchvision.transforms.v2``.

    Example:
        >>> build_transform(dict(type='RandomCrop', size=32, padding=4))
        RandomCrop(size=(32, 32), padding=[4, 4, 4, 4], pad_if_needed=False, fill=0, padding_mode=constant)
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise KeyError(f'A transform config must be a dict with a "type" key, got {cfg!r}')
    kwargs = {key: _build_value(value) for key, value in cfg.items() if key != 'type'}
    kind = cfg['type']
    if callable(kind) and not isinstance(kind, str):
        return kind(**kwargs)
    transform_cls = getattr(v2, kind, None) if isinstance(kind, str) else None
    if not (isinstance(transform_cls, type) and issubclass(transform_cls, (v2.Transform, v2.Compose))):
        raise KeyError(f'Unknown transform type {kind!r}: it is not a class in torchvision.transforms.v2. '
                       f'Available: {", ".join(_available_names())}')
    if kind in _ANTIALIASED:
        kwargs.setdefault('antialias', True)
    return transform_cls(**kwargs)


def build_pipeline(cfgs: Optional[Sequence[dict]]) -> v2.Compose:
    """Build a dataset pipeline that maps a uint8 ``Tensor[C, H, W]`` image to a transformed image.

    The transforms run on tensors, not PIL images, and keep the uint8 dtype unless the pipeline converts it (for
    example with ``ToDtype``); normalisation belongs to the data preprocessor, on the device. timm's own transforms
    are not resolved here: they take PIL images or normalised float tensors, which breaks this uint8 tensor contract.
    Pass a class object as ``type`` to use any other callable transform.

    Args:
        cfgs: Transform configs, applied in order. ``None`` or ``[]`` gives the identity.

    Returns:
        A ``torchvision.transforms.v2.Compose``.

    Example:
        >>> pipeline = build_pipeline([dict(type='RandomCrop', size=32, padding=4), dict(type='RandomHorizontalFlip')])
        >>> pipeline(torch.zeros(3, 32, 32, dtype=torch.uint8)).shape
        torch.Size([3, 32, 32])
    """
    transforms = [build_transform(cfg) for cfg in (cfgs or [])]
    return v2.Compose(transforms or [v2.Identity()])  # Compose refuses an empty list
