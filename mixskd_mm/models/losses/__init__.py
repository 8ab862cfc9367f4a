"""MixSKD loss terms, one registered module each (Yang et al., ECCV 2022, arXiv 2208.05768), and their functional
building blocks (:mod:`.functional`: ``kd_loss``, ``mixed_ce``, ``zero_loss``), public as mmpretrain's are.

A new loss term: a :class:`~._base.WeightedLoss` subclass in its own module here, registered in ``MODELS``, with
its maths and the paper in the docstring and a hand-computed golden test in tests/models/losses/.
"""
from .adversarial_feature_loss import AdversarialFeatureLoss
from .distribution_kd_loss import DistributionKDLoss
from .feature_map_l2_loss import FeatureMapL2Loss
from .functional import kd_loss, mixed_ce, zero_loss
from .mixup_ce_loss import MixupCELoss
from .original_ce_loss import OriginalCELoss

__all__ = ['AdversarialFeatureLoss', 'DistributionKDLoss', 'FeatureMapL2Loss', 'MixupCELoss', 'OriginalCELoss',
           'kd_loss', 'mixed_ce', 'zero_loss']
