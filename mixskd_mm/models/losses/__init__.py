"""MixSKD loss terms, one registered module each (Yang et al., ECCV 2022, arXiv 2208.05768)."""
from .adversarial_feature_loss import AdversarialFeatureLoss
from .distribution_kd_loss import DistributionKDLoss
from .feature_map_l2_loss import FeatureMapL2Loss
from .mixup_ce_loss import MixupCELoss
from .original_ce_loss import OriginalCELoss

__all__ = ['AdversarialFeatureLoss', 'DistributionKDLoss', 'FeatureMapL2Loss', 'MixupCELoss', 'OriginalCELoss']
