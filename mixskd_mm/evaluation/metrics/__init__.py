"""Metrics: importing this package registers them in ``mixskd_mm.registry.METRICS``."""
from .calibration import ClassificationScores, expected_calibration_error, load_scores, reliability_bins
from .input_digests import InputDigests
from .multi_exit_accuracy import MultiExitAccuracy

__all__ = ['ClassificationScores', 'InputDigests', 'MultiExitAccuracy', 'expected_calibration_error', 'load_scores',
           'reliability_bins']
