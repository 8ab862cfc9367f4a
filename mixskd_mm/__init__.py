"""mixskd_mm: MixSKD self-knowledge distillation for timm CNNs, as an OpenMMLab plugin.

Importing the package applies the fixes to the stack (:mod:`mixskd_mm.compat`): torch's weights-only loader
accepts MMEngine's own checkpoints and MMEngine's local file writes become atomic. The registries in
:mod:`mixskd_mm.registry` fill lazily. Where things live: README, "Code map".
"""
from . import compat

compat.apply()

__version__ = '0.1.0'
