"""Metrics: importing this package registers them in ``mixskd_mm.registry.METRICS``."""
from .multi_exit_accuracy import MultiExitAccuracy

__all__ = ['MultiExitAccuracy']
