"""Evaluation: importing this package registers the metrics in ``mixskd_mm.registry.METRICS``."""
from .metrics import MultiExitAccuracy

__all__ = ['MultiExitAccuracy']
