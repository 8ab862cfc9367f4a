"""Detectron2 integration: a MixSKD-pretrained (or any) timm CNN as a Detectron2 backbone.

The only package of mixskd_mm that imports Detectron2; ``import mixskd_mm`` never imports it. Importing this package
registers ``build_timm_backbone``, ``build_timm_fpn_backbone`` and ``build_timm_retinanet_fpn_backbone`` in
Detectron2's ``BACKBONE_REGISTRY``. README, Detectron2; configs/detectron2/README.md.
"""
try:
    import detectron2  # noqa: F401
except ImportError as err:  # a clear message instead of a bare "No module named detectron2"
    raise ImportError(
        'mixskd_mm.detectron2 needs Detectron2, which is not installed: run `make setup` (it repacks sal-detectron2 '
        '0.7.2 from the registry with tools/repack_detectron2.py and installs it) or install Detectron2 from its '
        'repository for your torch and CUDA (README, Detectron2)') from err

from .backbone import TimmBackbone, stage_names
from .config import (
    add_timm_backbone_config,
    build_timm_backbone,
    build_timm_fpn_backbone,
    build_timm_retinanet_fpn_backbone,
    timm_backbone_from_cfg,
)
from .pixels import PixelFormatError, check_lazy_config, check_pixel_format, expected_stats

__all__ = ['TimmBackbone', 'stage_names', 'add_timm_backbone_config', 'build_timm_backbone',
           'build_timm_fpn_backbone', 'build_timm_retinanet_fpn_backbone', 'timm_backbone_from_cfg',
           'PixelFormatError', 'check_lazy_config', 'check_pixel_format', 'expected_stats']
