"""Backbones."""
from .timm_stage_backbone import TimmStageBackbone, create_timm_model, stage_units

__all__ = ['TimmStageBackbone', 'create_timm_model', 'stage_units']
