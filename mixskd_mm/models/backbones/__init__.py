"""Backbones: any timm CNN cut into stages (``TimmStageBackbone``), its stem and initialisation options."""
from .arguments import EXPORTED_OPTIONS, export_metadata_of, timm_args
from .stages import create_timm_model, stage_units
from .timm_stage_backbone import TimmStageBackbone

__all__ = ['EXPORTED_OPTIONS', 'TimmStageBackbone', 'create_timm_model', 'export_metadata_of', 'stage_units',
           'timm_args']
