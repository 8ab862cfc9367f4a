"""Activation recomputation for backbone units and MixSKD exits: full or selective checkpointing.

Two modes trade step time for memory while the model trains:

* ``True`` (``'full'``): classic gradient checkpointing. A region keeps only its input; its whole
  forward runs again in the backward pass (about one extra forward of the region).
* ``'selective'``: a region keeps the outputs of its expensive operations (convolutions with more than
  :data:`CHEAP_CONV_MACS` multiply-adds per output element, matrix products, anything unknown) and
  recomputes the cheap, memory-bound ones in the backward pass: normalisation, activations,
  element-wise arithmetic, pooling, views and cheap convolutions (a 3-channel stem conv, 1x1
  projections of few channels, depthwise convs, convs on 1x1 maps as in squeeze-excite). For a ResNet
  this roughly halves the stored activations for a few per cent of step time
  (``benchmarks/bench_train_step.py`` measures it); the Python dispatch it needs costs relatively more
  on tiny models. Built on PyTorch's selective activation checkpointing
  (``create_selective_checkpoint_contexts``). An in-place op on a kept output is refused in the forward
  pass with a message naming the op (use ``True`` for such a model).

Both modes leave every forward value and gradient as without recomputation. ``'selective'`` also
leaves BatchNorm's running statistics as without recomputation (recomputed batch norm does not touch
them); ``True``, like mmdet's ``with_cp``, updates them a second time when it reruns a region.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Union

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.checkpoint import (
    CheckpointPolicy,
    checkpoint,
    create_selective_checkpoint_contexts,
)

CpMode = Union[bool, str]
CHEAP_CONV_MACS = 64
"""Convolutions with at most this many multiply-adds per output element are recomputed by ``'selective'``."""

_aten = torch.ops.aten
_RECOMPUTED_OPS = frozenset(getattr(_aten, name) for name in (
    # normalisation
    'native_batch_norm', '_native_batch_norm_legit', '_native_batch_norm_legit_no_training',
    'native_layer_norm', 'native_group_norm',
    # activations
    'relu', 'relu_', 'threshold', 'leaky_relu', 'leaky_relu_', 'gelu', 'gelu_', 'silu', 'silu_', 'hardswish',
    'hardswish_', 'hardsigmoid', 'hardsigmoid_', 'sigmoid', 'sigmoid_', 'tanh', 'tanh_', 'hardtanh', 'hardtanh_',
    'elu', 'elu_', 'mish', 'mish_', 'softplus', 'clamp', 'clamp_', 'clamp_min', 'clamp_min_', 'clamp_max',
    'clamp_max_',
    # element-wise arithmetic and reductions
    'add', 'add_', 'sub', 'sub_', 'mul', 'mul_', 'div', 'div_', 'neg', 'mean', 'sum',
    # pooling
    'max_pool2d_with_indices', 'avg_pool2d', 'adaptive_avg_pool2d', '_adaptive_avg_pool2d',
    # views, copies and layout
    'view', '_unsafe_view', 'reshape', 'permute', 'transpose', 't', 'expand', 'squeeze', 'unsqueeze', 'slice',
    'select', 'split', 'split_with_sizes', 'alias', 'detach', 'clone', '_to_copy', 'cat',
))
_BATCH_NORM = frozenset((_aten.native_batch_norm.default, _aten._native_batch_norm_legit.default))


def check_cp_mode(mode: CpMode, name: str = 'with_cp') -> CpMode:
    """Validate a checkpointing mode (``False``, ``True``/``'full'``, ``'selective'``); return it."""
    if not (isinstance(mode, bool) or mode in ('full', 'selective')):
        raise ValueError(f"{name} must be False, True (or 'full': recompute whole regions) or 'selective' "
                         f"(keep convolution outputs, recompute norms/activations), got {mode!r}")
    return mode


def _policy(ctx, func, *args, **kwargs) -> CheckpointPolicy:
    if func.overloadpacket in _RECOMPUTED_OPS:
        return CheckpointPolicy.PREFER_RECOMPUTE
    if func is _aten.convolution.default:
        # cheap per output element (stem, few-channel 1x1, depthwise), or a 1x1 map (squeeze-excite)
        out = ctx.op_output
        if math.prod(args[1].shape[1:]) <= CHEAP_CONV_MACS or math.prod(out.shape[2:]) == 1:
            return CheckpointPolicy.PREFER_RECOMPUTE
    return CheckpointPolicy.MUST_SAVE


class _KeptOutputGuard(TorchDispatchMode):
    """Forward pass: refuse, with the way out, an in-place op on an output the checkpoint keeps.

    Saved outputs are replayed in the backward pass, so mutating one afterwards would replay the wrong
    value (PyTorch would fail later, inside the backward pass, with a less helpful message).

    Args:
        kept: storage id -> producing op of every output kept so far (filled by the region's policy).
    """

    def __init__(self, kept: dict[int, str]) -> None:
        super().__init__()
        self.kept = kept

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func._schema.is_mutable and args and isinstance(args[0], torch.Tensor):
            producer = self.kept.get(id(args[0].untyped_storage()))
            if producer is not None:
                raise RuntimeError(f"with_cp='selective': {func} modifies the output of {producer} in place, which "
                                   f"selective recomputation keeps for the backward pass. Use with_cp=True (full "
                                   f"recomputation) or False for this model.")
        return func(*args, **(kwargs or {}))


class _FrozenRunningStats(TorchDispatchMode):
    """While recomputing: batch norm without updating the running buffers, and no counter increments.

    Both happened in the forward pass already: training-mode batch norm runs without running statistics,
    and in-place updates of integer tensors (BatchNorm's ``num_batches_tracked += 1``) are skipped.
    """

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func._schema.is_mutable and isinstance(args[0], torch.Tensor) and not args[0].is_floating_point():
            return args[0]
        if func in _BATCH_NORM and args[5]:  # (input, weight, bias, running_mean, running_var, training, ...)
            if func is _aten.native_batch_norm.default:
                return func(*args[:3], None, None, *args[5:], **kwargs)
            return _aten._native_batch_norm_legit.no_stats(*args[:3], *args[5:], **kwargs)
        return func(*args, **kwargs)


def _selective_contexts():
    kept: dict[int, str] = {}

    def policy(ctx, func, *args, **kwargs) -> CheckpointPolicy:
        decision = _policy(ctx, func, *args, **kwargs)
        if decision is CheckpointPolicy.MUST_SAVE:  # remember what is kept, for the guard
            for t in tree_flatten(ctx.op_output)[0]:
                if isinstance(t, torch.Tensor):
                    kept[id(t.untyped_storage())] = str(func)
        return decision

    forward_ctx, recompute_ctx = create_selective_checkpoint_contexts(policy)

    @contextlib.contextmanager
    def forward():
        # entered last = sees each op first, before SAC caches what the op returns
        with forward_ctx, _KeptOutputGuard(kept):
            yield

    @contextlib.contextmanager
    def recompute():
        # entered first = handles ops last: SAC's cache decides what to replay, then batch norm is adjusted
        with _FrozenRunningStats(), recompute_ctx:
            yield

    return forward(), recompute()


def run_checkpointed(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, mode: CpMode) -> torch.Tensor:
    """``fn(x)`` with activation recomputation ``mode`` (see the module docstring); ``False`` runs it plainly."""
    if not mode:
        return fn(x)
    if mode == 'selective':
        return checkpoint(fn, x, use_reentrant=False, context_fn=_selective_contexts)
    return checkpoint(fn, x, use_reentrant=False)
