"""Hooks (scheduling, switching, export, safety checks; no loss maths)."""
from .export_backbone_hook import ExportBackboneHook
from .memory_format_hook import MemoryFormatHook
from .non_finite_loss_hook import NonFiniteLossHook
from .optuna_pruning_hook import OptunaPruningHook
from .rng_state_hook import RNGStateHook
from .sanity_check_hook import SanityCheckHook, channel_problems

__all__ = ['ExportBackboneHook', 'MemoryFormatHook', 'NonFiniteLossHook', 'OptunaPruningHook', 'RNGStateHook',
           'SanityCheckHook', 'channel_problems']
