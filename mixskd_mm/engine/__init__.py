"""Engine: hooks and the CPU bf16 AMP optimiser wrapper."""
from . import hooks  # noqa: F401
from .optim_wrappers import CpuBf16AmpOptimWrapper  # noqa: F401
