"""Backbones: any timm CNN cut into stages (``TimmStageBackbone``), its stem and initialisation options."""
from .arguments import OWN_ARGUMENTS, timm_args
from .stages import create_timm_model, stage_units
from .timm_stage_backbone import TimmStageBackbone

__all__ = ['OWN_ARGUMENTS', 'TimmStageBackbone', 'create_timm_model', 'stage_units', 'timm_args']
