"""mixskd_mm: MixSKD self-knowledge distillation for timm CNNs, as an OpenMMLab plugin.

Importing the package applies two fixes to the stack for the whole process (:mod:`mixskd_mm.compat`; README, "Fixes
to the stack"), also when MMEngine's registry imports it for a config's ``type='mixskd_mm.X'``: torch's weights-only
loader accepts MMEngine's own checkpoints (an allow-list, so that ``load_checkpoint`` and ``--resume`` work on
torch >= 2.6, in MMDetection's and MMSegmentation's own tools too), and MMEngine's local file writes become atomic.
``MIXSKD_MM_NO_PATCHES=1`` in the environment before the import applies neither; ``mixskd_mm.compat.undo()`` takes
them back at run time. The registries in :mod:`mixskd_mm.registry` fill lazily. Where things live: README, "Code map".
"""
from . import compat

compat.apply_on_import()

__version__ = '0.1.0'
