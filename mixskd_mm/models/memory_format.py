"""``channels_last='auto'``: each convolution runs in the memory format that is faster for its shape on this machine.

Channels-last is not faster everywhere. On a CPU, oneDNN's channels-last kernels win on large maps and lose on
small ones: on an Intel Xeon with AVX-512 (2 threads, fp32, batch 128, forward + backward) a 3x3 convolution of
64 channels on 32 x 32 maps ran at 234 GFLOP/s channels-last against 146 contiguous, one of 512 channels on 4 x 4
maps at 212 against 283, and on 2 x 2 maps at 89 against 166 (``README.md``, Performance). Which side wins
depends on the CPU, the channels and the map size, so ``'auto'`` measures it, as ``cudnn.benchmark`` does for
cuDNN's algorithms:

* every ``nn.Conv2d`` of the model gets a forward pre-hook that puts its input in the format chosen for the call's
  *signature* (input shape and dtype, the convolution's geometry, autocast, which gradients the call needs);
  a signature not timed yet runs channels-last and is queued;
* at the model's next top-level call (:func:`tune_pending`, which ``ImageClassifier`` runs before its forward),
  each queued signature is timed once in both formats on random tensors of its shape (forward, and backward
  when the call needed gradients) and the faster kept. Contiguous must be clearly faster (at most
  :data:`CONTIGUOUS_IF_AT_MOST` of channels-last's time) to be chosen. A choice is never changed within a step,
  so recomputation in the backward pass sees the formats its forward pass used.

Only activations change layout: the weights stay contiguous (a convolution runs channels-last when its input is,
at the same speed as with channels-last weights), so parameters, optimiser state and DDP's gradient buckets are
the same tensors as without ``'auto'``. The timing uses a generator of its own, never the global random stream.

Choices are made per process and by timing, so two fresh runs (or a run and its resumption) can choose
differently where both formats are close; their values then agree to float rounding, not bit for bit.
"""
from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from torch import nn

CONTIGUOUS_IF_AT_MOST = 0.9
"""Contiguous is chosen where its time is at most this fraction of channels-last's (otherwise channels-last)."""
TIMED_CALLS = 3
"""Timed calls per format (after one untimed call that builds the kernels); the median is compared."""
FORMATS = (torch.channels_last, torch.contiguous_format)


class Signature(NamedTuple):
    """What a convolution call's speed depends on: shapes, dtype, geometry, autocast and needed gradients."""

    device: str
    dtype: torch.dtype
    autocast: torch.dtype | None
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    bias: bool
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str
    dilation: tuple[int, ...]
    groups: int
    grad_input: bool
    grad_weight: bool


_chosen: dict[Signature, torch.memory_format] = {}
_pending: dict[Signature, None] = {}  # an ordered set: signatures seen but not timed yet


def signature(conv: nn.Conv2d, x: torch.Tensor) -> Signature:
    """The signature of ``conv(x)`` in the current autocast and grad mode."""
    device = x.device.type
    autocast = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
    grad = torch.is_grad_enabled()
    return Signature(device, x.dtype, autocast, tuple(x.shape), tuple(conv.weight.shape), conv.bias is not None,
                     tuple(conv.stride), conv.padding, tuple(conv.dilation), conv.groups,
                     grad and x.requires_grad, grad and conv.weight.requires_grad)


def _format_hook(conv: nn.Conv2d, args: tuple) -> tuple | None:
    x = args[0]
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        return None
    sig = signature(conv, x)
    fmt = _chosen.get(sig)
    if fmt is None:
        _pending[sig] = None
        fmt = torch.channels_last
    return (x.contiguous(memory_format=fmt),) + tuple(args[1:])


def attach(model: nn.Module) -> None:
    """Give every ``nn.Conv2d`` of ``model`` the format hook (once: calling again adds nothing)."""
    for conv in model.modules():
        if isinstance(conv, nn.Conv2d) and not getattr(conv, '_auto_memory_format', False):
            conv.register_forward_pre_hook(_format_hook)
            # torch types a module's attributes as Tensor | Module (its __setattr__)
            conv._auto_memory_format = True  # type: ignore[assignment]


def time_call(sig: Signature, fmt: torch.memory_format, calls: int = TIMED_CALLS) -> float:
    """Median seconds of one call of ``sig`` with its input in ``fmt`` (forward, and backward where it needs grads)."""
    gen = torch.Generator(sig.device).manual_seed(0)
    dtype: dict[str, Any] = dict(dtype=sig.dtype, device=sig.device)
    x = torch.randn(sig.input_shape, generator=gen, **dtype).contiguous(memory_format=fmt)
    w = torch.randn(sig.weight_shape, generator=gen, **dtype)
    b = torch.randn(sig.weight_shape[0], generator=gen, **dtype) if sig.bias else None
    x.requires_grad_(sig.grad_input)
    w.requires_grad_(sig.grad_weight)
    backward = sig.grad_input or sig.grad_weight
    sync = torch.cuda.synchronize if sig.device == 'cuda' else (lambda: None)
    times = []
    with torch.set_grad_enabled(backward), torch.autocast(sig.device, dtype=sig.autocast or torch.bfloat16,
                                                           enabled=sig.autocast is not None):
        for i in range(calls + 1):
            sync()
            start = time.perf_counter()
            out = F.conv2d(x, w, b, sig.stride, sig.padding, sig.dilation, sig.groups)
            if backward:
                out.sum().backward()
            sync()
            if i:  # the first call builds the kernels
                times.append(time.perf_counter() - start)
            x.grad = w.grad = None
    return sorted(times)[len(times) // 2]


def tune_pending(timer: Callable[[Signature, torch.memory_format], float] | None = None) -> dict[Signature, str]:
    """Time every queued signature in both formats and keep the faster; return the new choices by format name.

    Called by ``ImageClassifier`` (``channels_last='auto'``) at the start of each top-level call, outside any
    recomputed region, so a choice never changes within a step. Nothing to do costs one dict check.

    Args:
        timer: seconds of one call of a signature in a format; :func:`time_call` by default.
    """
    timer = timer or time_call
    made = {}
    while _pending:
        sig = next(iter(_pending))
        last, contiguous = (timer(sig, fmt) for fmt in FORMATS)
        _chosen[sig] = torch.contiguous_format if contiguous <= CONTIGUOUS_IF_AT_MOST * last else torch.channels_last
        made[sig] = 'contiguous' if _chosen[sig] is torch.contiguous_format else 'channels-last'
        del _pending[sig]
    if made:
        contiguous = sum(v == 'contiguous' for v in made.values())
        MMLogger.get_current_instance().info(
            f"channels_last='auto': timed {len(made)} convolution shapes, {contiguous} faster contiguous, "
            f'{len(made) - contiguous} channels-last')
    return made


def chosen() -> dict[Signature, torch.memory_format]:
    """The choices made so far in this process (a copy)."""
    return dict(_chosen)


def restore(choices: dict[Signature, torch.memory_format]) -> None:
    """Take choices made before (a checkpoint's, :class:`~mixskd_mm.engine.hooks.MemoryFormatHook`): they replace
    any made for the same signatures and are never timed again."""
    for sig, fmt in choices.items():
        if fmt not in FORMATS:
            raise ValueError(f'a memory format choice must be channels_last or contiguous_format, got {fmt!r}')
        _chosen[sig] = fmt
        _pending.pop(sig, None)


def reset() -> None:
    """Forget every choice and queued signature (the next calls run channels-last and are timed again)."""
    _chosen.clear()
    _pending.clear()
