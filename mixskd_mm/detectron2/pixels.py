"""The pixel format a timm backbone needs in Detectron2, and the build-time check that refuses any other.

Detectron2's configs default to BGR input with Caffe's pixel means and unit std (``MODEL.PIXEL_MEAN = [103.53,
116.28, 123.675]``, ``PIXEL_STD = [1, 1, 1]``, ``INPUT.FORMAT = 'BGR'``). timm weights expect RGB normalised with their
own mean and std. A mismatch trains without an error and loses accuracy silently, so it is refused here.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: timm's ImageNet statistics on the 0-1 scale, used when neither the weights nor timm record any
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: largest difference allowed on Detectron2's 0-255 scale (the configs round to 3 decimals)
TOLERANCE = 0.05


class PixelFormatError(ValueError):
    """A Detectron2 config whose input format or pixel statistics do not match the backbone's training."""


def expected_stats(model_name: str, pretrained_cfg: Mapping[str, Any] | None = None) -> tuple[list[float], list[float]]:
    """The ``(PIXEL_MEAN, PIXEL_STD)`` on Detectron2's 0-255 scale that a backbone was trained with.

    Args:
        model_name: the timm model.
        pretrained_cfg: what its loaded weights record (``TimmStageBackbone.pretrained_cfg``); when it has no
            ``mean`` / ``std``, timm's default ``pretrained_cfg`` for ``model_name``, else ImageNet's.
    """
    mean, std = (pretrained_cfg or {}).get('mean'), (pretrained_cfg or {}).get('std')
    if mean is None or std is None:
        import timm
        default = timm.models.get_pretrained_cfg(model_name)
        mean = getattr(default, 'mean', None) or IMAGENET_MEAN
        std = getattr(default, 'std', None) or IMAGENET_STD
    return [round(255.0 * float(m), 3) for m in mean], [round(255.0 * float(s), 3) for s in std]


def _close(a: Sequence[float], b: Sequence[float]) -> bool:
    return len(a) == len(b) and all(abs(float(x) - float(y)) <= TOLERANCE for x, y in zip(a, b))


def check_pixel_format(input_format: str, pixel_mean: Sequence[float], pixel_std: Sequence[float],
                       model_name: str, pretrained_cfg: Mapping[str, Any] | None = None, *,
                       lazy: bool = False) -> None:
    """Refuse a config whose input is not the RGB, mean/std-normalised input the backbone was trained on.

    Args:
        input_format: ``INPUT.FORMAT`` (LazyConfig: the dataloaders' ``mapper.image_format``).
        pixel_mean: ``MODEL.PIXEL_MEAN`` (LazyConfig: ``model.pixel_mean``), 0-255 scale.
        pixel_std: ``MODEL.PIXEL_STD`` (LazyConfig: ``model.pixel_std``).
        model_name: the timm model.
        pretrained_cfg: what its weights record (see :func:`expected_stats`).
        lazy: name the LazyConfig keys in the message instead of the yacs ones.

    Raises:
        PixelFormatError: with the values to set.
    """
    mean, std = expected_stats(model_name, pretrained_cfg)
    got_mean, got_std = [float(m) for m in pixel_mean], [float(s) for s in pixel_std]
    problems = []
    if input_format != 'RGB':
        problems.append(f'input format {input_format!r} (timm weights take RGB)')
    if not _close(got_mean, mean):
        caffe = _close(got_mean, [103.53, 116.28, 123.675])
        problems.append(f'pixel mean {got_mean}' + (" (Detectron2's BGR Caffe mean)" if caffe else ''))
    if not _close(got_std, std):
        problems.append(f'pixel std {got_std}')
    if not problems:
        return
    if lazy:
        fix = (f"dataloader.train.mapper.image_format='RGB', dataloader.test.mapper.image_format='RGB', "
               f'model.pixel_mean={mean}, model.pixel_std={std}')
    else:
        fix = f'INPUT.FORMAT RGB MODEL.PIXEL_MEAN "{mean}" MODEL.PIXEL_STD "{std}"'
    raise PixelFormatError(
        f'the config feeds the timm backbone {model_name!r} ' + ', '.join(problems) + f'; its weights were trained '
        f'on RGB with mean {mean} and std {std} (0-255 scale). A mismatch trains without an error and loses '
        f'accuracy silently. Set {fix} (the configs in configs/detectron2/ do).')


def check_cfg(cfg: Any, backbone: Any) -> None:
    """:func:`check_pixel_format` for a yacs config and a built :class:`~mixskd_mm.detectron2.backbone.TimmBackbone`;
    also refuses Detectron2's ImageNet ResNet weights in ``MODEL.WEIGHTS`` (their keys do not fit a timm backbone,
    and Detectron2 would only warn)."""
    check_pixel_format(cfg.INPUT.FORMAT, cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD, backbone.model_name,
                       backbone.pretrained_cfg)
    weights = str(cfg.MODEL.WEIGHTS)
    if 'ImageNetPretrained' in weights or weights.endswith('R-50.pkl'):
        raise ValueError(f'MODEL.WEIGHTS {weights!r} is a Detectron2 ImageNet ResNet, which does not fit the timm '
                         f'backbone {backbone.model_name!r}: set MODEL.WEIGHTS "" and name the backbone\'s weights in '
                         'MODEL.TIMM.WEIGHTS (a backbone file, local-dir:FOLDER or hf-hub:org/name).')


def check_lazy_config(cfg: Any, model: Any) -> None:
    """:func:`check_pixel_format` for a LazyConfig and the model instantiated from it: every ``TimmBackbone`` in
    ``model`` against ``model.pixel_mean`` / ``pixel_std`` and the dataloaders' ``mapper.image_format``."""
    from .backbone import TimmBackbone
    backbones = [m for m in model.modules() if isinstance(m, TimmBackbone)]
    if not backbones:
        return
    formats = {str(loader.mapper.image_format) for key, loader in cfg.get('dataloader', {}).items()
               if key in ('train', 'test') and 'mapper' in loader and 'image_format' in loader.mapper}
    mean = model.pixel_mean.flatten().tolist()
    std = model.pixel_std.flatten().tolist()
    for backbone in backbones:
        for fmt in sorted(formats) or ['RGB']:
            check_pixel_format(fmt, mean, std, backbone.model_name, backbone.pretrained_cfg, lazy=True)
