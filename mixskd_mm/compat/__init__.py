"""Fixes to the stack, one module per fix, named as in the README section "Fixes to the stack".

- :mod:`.weights_only`: mmengine 0.10.7 on torch >= 2.6 (``torch.load`` defaults to ``weights_only=True``);
  allow-lists exactly what mmengine's own checkpoints hold.
- :mod:`.atomic_writes`: mmengine's checkpoint writes become atomic.
- :mod:`.cpu_distributed`: distributed runs without CUDA (gloo, ``device_ids=None``); applied when a Runner is built.

:func:`apply` (run by ``import mixskd_mm``) applies the import-time fixes; each is idempotent. The version pins
of the README section (setuptools, ftfy, regex) live in requirements.txt.
"""
from . import atomic_writes, weights_only


def apply() -> None:
    """Apply the fixes that take effect at import (weights-only allow-list, atomic writes)."""
    weights_only.apply()
    atomic_writes.apply()
