"""mixskd_mm: MixSKD self-knowledge distillation for timm CNNs, as an OpenMMLab plugin.

Importing the package makes torch's weights-only loader accept MMEngine's own checkpoints (see
:mod:`mixskd_mm.utils.torch_load`) and MMEngine's local file writes atomic (see
:mod:`mixskd_mm.utils.atomic_io`); the registries in :mod:`mixskd_mm.registry` fill lazily.
"""
from .utils.atomic_io import make_local_writes_atomic
from .utils.torch_load import allow_mmengine_checkpoints

allow_mmengine_checkpoints()
make_local_writes_atomic()

__version__ = '0.1.0'
