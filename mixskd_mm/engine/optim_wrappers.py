"""Mixed precision on the CPU through MMEngine's AMP wrapper: bf16 autocast, no loss scaling."""
from __future__ import annotations

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mixskd_mm.engine.cpu_perf import native_bf16
from mixskd_mm.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CpuBf16AmpOptimWrapper(AmpOptimWrapper):
    """MMEngine's :class:`~mmengine.optim.AmpOptimWrapper` for a CPU with native bf16 (AVX-512 BF16 or AMX).

    MMEngine 0.10.7's wrapper refuses to start without a GPU, although its autocast context supports the CPU. This
    subclass skips that check and nothing else: :meth:`optim_context` is MMEngine's (``torch.autocast('cpu',
    torch.bfloat16)`` around the model's forward and losses), and the loss scaler is a disabled
    ``torch.amp.GradScaler`` (bf16 has fp32's exponent range, so gradients need no scaling: ``backward`` and
    ``step`` are the plain ones, and ``state_dict`` stores an empty scaler state). The parameters, gradients and
    optimiser state stay fp32; the MixSKD losses compute in fp32 (they cast their inputs).

    Args:
        dtype: the autocast type; only ``'bfloat16'`` (CPU autocast supports no other).
        loss_scale: accepted for config compatibility with ``AmpOptimWrapper``; ignored (no scaling).
        **kwargs: :class:`~mmengine.optim.OptimWrapper` arguments (``optimizer``, ``clip_grad``, ...).

    Raises:
        RuntimeError: on a CPU without native bf16, where bf16 autocast runs slower than fp32.
        ValueError: for a ``dtype`` other than bf16.
    """

    def __init__(self, dtype: str | torch.dtype = 'bfloat16', loss_scale: str | float | dict = 'dynamic',
                 **kwargs) -> None:
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f'CpuBf16AmpOptimWrapper: CPU autocast runs in bfloat16 only, got dtype={dtype!r}')
        supported, reason = native_bf16()
        if not supported:
            raise RuntimeError(f'CpuBf16AmpOptimWrapper: {reason}; train without --amp on this machine')
        OptimWrapper.__init__(self, **kwargs)  # AmpOptimWrapper.__init__ asserts a GPU: skipped, its state set here
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = torch.bfloat16
