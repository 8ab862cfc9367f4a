"""Peak tensor memory of a piece of code on any device, CPU included."""
from __future__ import annotations

import weakref
from collections.abc import Iterable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveTensorBytes(TorchDispatchMode):
    """Bytes of live tensor storages while the mode is active, and their peak.

    Counts the ``tensors`` given (alive before, e.g. parameters and optimiser state) and every storage an
    op returns while the mode is active, each storage once (views share it), until a weakref callback
    sees it freed: the CPU analogue of ``torch.cuda.max_memory_allocated``. Not counted: allocator
    caching and fragmentation, and scratch buffers a kernel allocates internally (oneDNN's).

    Example:
        >>> with LiveTensorBytes([]) as mem:
        ...     y = torch.zeros(256) + 1
        >>> mem.peak >= 2 * 256 * 4
        True
    """

    def __init__(self, tensors: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self.live: dict[int, weakref.ref] = {}
        self.current = self.peak = 0
        for t in tensors:
            self._add(t)

    def _add(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key, n = id(storage), storage.nbytes()
        if key not in self.live:
            self.live[key] = weakref.ref(storage, lambda _: self._drop(key, n))
            self.current += n
            self.peak = max(self.peak, self.current)

    def _drop(self, key: int, n: int) -> None:
        self.live.pop(key, None)
        self.current -= n

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._add(t)
        return out
