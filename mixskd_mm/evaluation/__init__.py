"""Evaluation: importing this package registers the metrics in ``mixskd_mm.registry.METRICS``."""
from .metrics import ClassificationScores, MultiExitAccuracy

__all__ = ['ClassificationScores', 'MultiExitAccuracy']
