"""Classifiers: the MixSKD model and the plain / Mixup / CutMix baselines."""
from .image_classifier import ImageClassifier
from .mixskd import MixSKD

__all__ = ['ImageClassifier', 'MixSKD']
