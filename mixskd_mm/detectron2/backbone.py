"""A timm CNN (:class:`~mixskd_mm.models.backbones.TimmStageBackbone`) as a Detectron2 ``Backbone``."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import Backbone

from mixskd_mm.models.backbones.timm_stage_backbone import TimmStageBackbone
from mixskd_mm.weights.files import load_weights_file

#: Detectron2's norm names -> TimmStageBackbone's ``norm_cfg`` types (Detectron2's ``RESNETS.NORM`` meanings)
NORMS = {'FrozenBN': 'FrozenBN', 'BN': 'BN', 'SyncBN': 'SyncBN'}
#: the feature modules of a timm ResNet / ResNeXt: stem, then C2..C5
RESNET_STAGES = ('act1', 'layer1', 'layer2', 'layer3', 'layer4')


def stage_names(stage_modules: Sequence[str]) -> list[str]:
    """Detectron2's names of a timm model's stages: ``stem``, ``res2``..``res5`` for ResNets, else ``stage{i}``."""
    if tuple(stage_modules) == RESNET_STAGES:
        return ['stem', 'res2', 'res3', 'res4', 'res5']
    return [f'stage{i}' for i in range(len(stage_modules))]


class TimmBackbone(Backbone):
    """Any timm CNN cut into stages, with Detectron2's backbone interface.

    The stages are those of :class:`~mixskd_mm.models.backbones.TimmStageBackbone` (timm's ``feature_info``); the
    network sits in :attr:`body`, so the detector's checkpoint keys are ``backbone.[bottom_up.]body.<timm name>``.

    Args:
        model_name: a timm model with multi-stage features (``resnet50``, ``convnext_tiny``, ``regnety_016``...).
        out_features: the stages to return, by their Detectron2 names (:func:`stage_names`). ``None``: every stage
            of stride 4 or more (``res2``..``res5`` for a ResNet).
        weights: ``''`` (timm's initialisation) or what ``MODEL.TIMM.WEIGHTS`` names: a backbone file exported by
            ``tools/export_backbone.py``, a run directory, ``local-dir:FOLDER`` or ``hf-hub:org/name``; loaded with
            the project's coverage report (``loaded SOURCE: N/N tensors matched``), refused unless it covers the
            backbone.
        freeze_at: Detectron2's ``MODEL.BACKBONE.FREEZE_AT``: 0 trains everything, k freezes (no gradient, BatchNorm
            statistics fixed) the first k stages of timm's ``feature_info``. For a ResNet these are Detectron2's own:
            1 the stem, 2 the stem and ``res2`` (Detectron2's default), up to 5.
        norm: ``'FrozenBN'`` (every BatchNorm fixed: Detectron2's default for ResNets), ``'BN'`` or ``'SyncBN'``.
        **timm_kwargs: more options of ``TimmStageBackbone`` / ``timm.create_model`` (``drop_path_rate``...).
    """

    def __init__(self, model_name: str, out_features: Sequence[str] | None = None, weights: str = '',
                 freeze_at: int = 0, norm: str = 'FrozenBN', **timm_kwargs: Any) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f'MODEL.TIMM.NORM must be one of {sorted(NORMS)} (Detectron2\'s names), got {norm!r}')
        probe = TimmStageBackbone(model_name, out_indices=(0,), **timm_kwargs)
        names = stage_names(probe.stage_modules)
        strides = probe.stage_strides
        if out_features is None or not list(out_features):
            out_features = [n for n, s in zip(names, strides) if s >= 4]
        unknown = [f for f in out_features if f not in names]
        if unknown:
            raise ValueError(f'out_features {unknown} are not stages of {model_name!r}: it has {names} (strides '
                             f'{strides}); set MODEL.TIMM.OUT_FEATURES (and MODEL.FPN.IN_FEATURES) to some of them')
        if not 0 <= freeze_at <= len(names):
            raise ValueError(f'MODEL.BACKBONE.FREEZE_AT must be in 0..{len(names)} for {model_name!r} (its stages '
                             f'{names}), got {freeze_at}')
        indices = sorted(names.index(f) for f in out_features)
        self.body = TimmStageBackbone(model_name, out_indices=indices, frozen_stages=freeze_at - 1,
                                      norm_cfg=dict(type=NORMS[norm]), **timm_kwargs)
        self.model_name, self.freeze_at, self.norm = model_name, freeze_at, norm
        self._out_features = [names[i] for i in indices]
        self._out_feature_channels = {names[i]: self.body.stage_channels[i] for i in indices}
        self._out_feature_strides = {names[i]: self.body.stage_strides[i] for i in indices}
        self.weights_report: dict[str, Any] = {}
        if weights:
            self.load_weights(weights)

    def load_weights(self, source: str) -> dict[str, Any]:
        """Load ``source`` into :attr:`body` with the project's loader; keep its report in :attr:`weights_report`.

        What the source records of its training inputs (mean, std) lands in ``body.pretrained_cfg``.
        """
        report = load_weights_file(self.body, source, expected_arch=self.model_name)
        self.body.record_loaded(source, report)  # weights_source and pretrained_cfg, as TimmStageBackbone does itself
        self.weights_report = report
        return report

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        """What the loaded weights were trained on (``mean`` / ``std`` on the 0-1 scale...); ``{}`` if unrecorded."""
        return dict(self.body.pretrained_cfg)

    @property
    def size_divisibility(self) -> int:
        """Inputs are padded to a multiple of the largest stride returned, so every stage's map lines up."""
        return max(self._out_feature_strides.values())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The feature maps of :attr:`out_features`, by name."""
        if x.dim() != 4:
            raise ValueError(f'TimmBackbone takes (N, C, H, W) images, got shape {tuple(x.shape)}')
        return dict(zip(self._out_features, self.body(x)))

    def output_shape(self) -> dict[str, ShapeSpec]:
        """Channels and stride of each returned stage (what FPN and the heads are built from)."""
        return {name: ShapeSpec(channels=self._out_feature_channels[name], stride=self._out_feature_strides[name])
                for name in self._out_features}
