"""Metrics: importing this package registers them in ``mixskd_mm.registry.METRICS``."""
from .calibration import ClassificationScores, expected_calibration_error, load_scores, reliability_bins
from .multi_exit_accuracy import MultiExitAccuracy

__all__ = ['ClassificationScores', 'MultiExitAccuracy', 'expected_calibration_error', 'load_scores',
           'reliability_bins']
