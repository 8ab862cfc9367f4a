"""Our options in a Detectron2 yacs config (``MODEL.TIMM``) and the builders registered in ``BACKBONE_REGISTRY``.

    from detectron2.config import get_cfg
    from mixskd_mm.detectron2 import add_timm_backbone_config
    cfg = get_cfg()
    add_timm_backbone_config(cfg)          # MODEL.TIMM.{NAME, WEIGHTS, OUT_FEATURES, NORM}
    cfg.merge_from_file('configs/detectron2/faster_rcnn_timm_r50_fpn_1x_coco.yaml')

``MODEL.BACKBONE.NAME`` picks a builder: ``build_timm_backbone`` (the stages themselves), ``build_timm_fpn_backbone``
(an FPN with P6 by max-pool: Faster / Mask / Cascade R-CNN) or ``build_timm_retinanet_fpn_backbone`` (P6/P7 from the
last stage: RetinaNet). ``MODEL.BACKBONE.FREEZE_AT`` keeps Detectron2's meaning (:class:`TimmBackbone`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from detectron2.config import CfgNode, LazyConfig
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY, FPN
from detectron2.modeling.backbone.fpn import LastLevelMaxPool, LastLevelP6P7

from .backbone import TimmBackbone
from .pixels import check_cfg


def add_timm_backbone_config(cfg: CfgNode) -> CfgNode:
    """Add ``MODEL.TIMM`` to a Detectron2 config (once; call it before ``merge_from_file``). Returns ``cfg``.

    ``MODEL.TIMM.NAME``: the timm model; ``WEIGHTS``: its weights (a backbone file, run directory, ``local-dir:``,
    ``hf-hub:``; ``''`` for timm's initialisation); ``OUT_FEATURES``: the stages returned (``[]``: the FPN's
    ``IN_FEATURES``, or every stage of stride >= 4); ``NORM``: ``FrozenBN`` / ``BN`` / ``SyncBN``.
    """
    if 'TIMM' in cfg.MODEL:
        return cfg
    cfg.MODEL.TIMM = CfgNode()
    cfg.MODEL.TIMM.NAME = 'resnet50'
    cfg.MODEL.TIMM.WEIGHTS = ''
    cfg.MODEL.TIMM.OUT_FEATURES = []
    cfg.MODEL.TIMM.NORM = 'FrozenBN'
    return cfg


def timm_backbone_from_cfg(cfg: CfgNode, input_shape: ShapeSpec | None = None,
                           out_features: list[str] | None = None) -> TimmBackbone:
    """The :class:`TimmBackbone` a yacs config describes, its pixel format checked (:func:`check_cfg`).

    Raises:
        KeyError: the config has no ``MODEL.TIMM`` node (``add_timm_backbone_config`` was not called).
        PixelFormatError: BGR input or pixel statistics other than the backbone's, with the fix.
    """
    if 'TIMM' not in cfg.MODEL:
        raise KeyError('the config has no MODEL.TIMM node: call mixskd_mm.detectron2.add_timm_backbone_config(cfg) '
                       'before cfg.merge_from_file(...) (tools/d2_train.py does)')
    t = cfg.MODEL.TIMM
    kwargs: dict[str, Any] = {}
    if input_shape is not None and input_shape.channels not in (None, 3):
        kwargs['in_chans'] = input_shape.channels
    backbone = TimmBackbone(t.NAME, out_features=list(t.OUT_FEATURES) or out_features, weights=t.WEIGHTS,
                            freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT, norm=t.NORM, **kwargs)
    check_cfg(cfg, backbone)
    return backbone


def _fpn_in_features(cfg: CfgNode, bottom_up: TimmBackbone) -> list[str]:
    wanted = list(cfg.MODEL.FPN.IN_FEATURES)
    have = list(bottom_up.output_shape())
    missing = [f for f in wanted if f not in have]
    if missing:
        raise ValueError(f'MODEL.FPN.IN_FEATURES {wanted} names {missing}, which the timm backbone '
                         f'{bottom_up.model_name!r} does not return (it returns {have}): set MODEL.FPN.IN_FEATURES '
                         f'(and MODEL.TIMM.OUT_FEATURES) to its stage names')
    return wanted


@BACKBONE_REGISTRY.register()
def build_timm_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> TimmBackbone:
    """``MODEL.BACKBONE.NAME: build_timm_backbone``: the timm stages alone."""
    return timm_backbone_from_cfg(cfg, input_shape)


@BACKBONE_REGISTRY.register()
def build_timm_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """``MODEL.BACKBONE.NAME: build_timm_fpn_backbone``: an FPN on the timm stages, P6 by max-pool (R-CNNs)."""
    bottom_up = timm_backbone_from_cfg(cfg, input_shape, out_features=list(cfg.MODEL.FPN.IN_FEATURES))
    return FPN(bottom_up=bottom_up, in_features=_fpn_in_features(cfg, bottom_up),
               out_channels=cfg.MODEL.FPN.OUT_CHANNELS, norm=cfg.MODEL.FPN.NORM, top_block=LastLevelMaxPool(),
               fuse_type=cfg.MODEL.FPN.FUSE_TYPE)


@BACKBONE_REGISTRY.register()
def build_timm_retinanet_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """``MODEL.BACKBONE.NAME: build_timm_retinanet_fpn_backbone``: RetinaNet's FPN, P6/P7 from the last stage."""
    bottom_up = timm_backbone_from_cfg(cfg, input_shape, out_features=list(cfg.MODEL.FPN.IN_FEATURES))
    in_features = _fpn_in_features(cfg, bottom_up)
    last = in_features[-1]
    top = LastLevelP6P7(bottom_up.output_shape()[last].channels, cfg.MODEL.FPN.OUT_CHANNELS, in_feature=last)
    return FPN(bottom_up=bottom_up, in_features=in_features, out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
               norm=cfg.MODEL.FPN.NORM, top_block=top, fuse_type=cfg.MODEL.FPN.FUSE_TYPE)


def load_lazy_config(path: str, overrides: Sequence[str] = ()) -> Any:
    """A LazyConfig file with ``key=value`` overrides applied (Detectron2's ``LazyConfig.load`` / ``apply_overrides``),
    for code outside this package, which does not import Detectron2 itself."""
    return LazyConfig.apply_overrides(LazyConfig.load(path), list(overrides))
