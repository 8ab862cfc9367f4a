"""Fix: ``torch.load(weights_only=True)`` reads the checkpoints MMEngine 0.10.7 writes, and nothing more.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. MMEngine 0.10.7 calls it without
the argument, so loading a checkpoint written by its own Runner fails with ``UnpicklingError`` in
``load_checkpoint``, in ``init_cfg=dict(type='Pretrained')`` and in ``--resume``. The fix on
MMEngine's main branch is not released. Rather than turning weights-only loading off (which lets
any pickle run code), this module allow-lists exactly the non-tensor objects those checkpoints hold:

* the message hub's ``HistoryBuffer`` (its state is numpy arrays and ints),
* numpy arrays, scalars and dtypes (numbers in ``meta`` and in the message hub),
* ``getattr(HistoryBuffer, 'min' | 'max' | 'current' | 'mean')``, which is how pickle spells the
  buffer's statistics functions: a restricted stand-in is registered under the name
  ``builtins.getattr`` that resolves only those four names on ``HistoryBuffer`` and refuses the rest.

:func:`apply` runs when ``mixskd_mm`` is imported (unless ``MIXSKD_MM_NO_PATCHES`` says otherwise, see
:mod:`mixskd_mm.compat`); it only adds to torch's allow-list, and :func:`undo` takes exactly those entries out again.
"""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import torch

#: the entries :func:`apply` added to torch's allow-list (empty while the fix is not applied)
_ADDED: list = []
#: the statistics functions HistoryBuffer ships with (its ``statistics_methods`` dict holds them)
_HISTORY_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to the statistics functions of mmengine's ``HistoryBuffer``."""
    from mmengine.logging.history_buffer import HistoryBuffer
    is_buffer = obj is HistoryBuffer or isinstance(obj, HistoryBuffer)
    if is_buffer and name in _HISTORY_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refused getattr({type(obj).__name__}, {name!r}) while loading with weights_only=True: only '
        f'the statistics functions of mmengine HistoryBuffer are allowed (mixskd_mm.compat.weights_only)')


def mmengine_checkpoint_globals() -> list:
    """The globals an MMEngine 0.10.7 Runner checkpoint needs beyond what torch allows by default."""
    from mmengine.logging.history_buffer import HistoryBuffer
    np_core = np._core if hasattr(np, '_core') else np.core
    safe = [HistoryBuffer, np.ndarray, np.dtype, np_core.multiarray._reconstruct, np_core.multiarray.scalar,
            (_history_buffer_getattr, 'builtins.getattr')]
    # numpy >= 1.25 pickles dtypes as instances of these classes under some protocols
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return safe


def apply() -> None:
    """Register :func:`mmengine_checkpoint_globals` with torch's weights-only unpickler (idempotent)."""
    if _ADDED or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    safe = mmengine_checkpoint_globals()
    torch.serialization.add_safe_globals(safe)
    _ADDED.extend(safe)


def undo() -> None:
    """Take the entries :func:`apply` added out of torch's allow-list; other entries stay (nothing if not applied).

    An entry someone else added too goes with ours: torch keeps one list without owners.
    """
    if not _ADDED:
        return
    kept = [g for g in torch.serialization.get_safe_globals() if g not in _ADDED]
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(kept)
    _ADDED.clear()


def is_applied() -> bool:
    """Whether torch's weights-only loader holds this module's allow-list now."""
    return bool(_ADDED)
