"""CPU-side speed settings of a training process: glibc's allocator and native bf16 support.

**Allocator.** glibc's ``malloc`` serves every buffer above its mmap threshold (which grows to 32 MiB on 64-bit
Linux) with a fresh ``mmap`` and returns it with ``munmap`` when freed, so every such buffer faults its pages in
again on the next step. A MixSKD step forwards 2B images, and at the released CIFAR batch (2B = 128) its layer1
maps and their gradients are such buffers; a CE step at batch B has none. :func:`set_malloc` ``('pinned')``
turns both off from inside the process (``mallopt`` through ctypes, what ``MALLOC_MMAP_MAX_=0`` and a large
``MALLOC_TRIM_THRESHOLD_`` do from the environment): big buffers come from the heap, and freed memory stays
with the process for the next step. The process then keeps its peak heap for its lifetime (what a training
process needs again at the next step anyway).

**bf16.** :func:`native_bf16` tells whether the CPU computes bf16 natively (AVX-512 BF16 or AMX-BF16); without
it, bf16 autocast on the CPU emulates the arithmetic and is slower than fp32.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterable

#: ``mallopt`` parameter numbers from glibc's ``<malloc.h>``
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
#: what ``'pinned'`` sets: no mmap'ed chunks, and no trimming of the heap's top below 2 GiB free
PINNED = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1))
#: glibc's steady state on 64-bit Linux once its dynamic mmap threshold has grown to its maximum: buffers >= 32 MiB
#: mapped, the heap's top trimmed above twice that free (glibc's defaults move both together)
DEFAULT_LIKE = ((M_MMAP_MAX, 65536), (M_MMAP_THRESHOLD, 32 * 2**20), (M_TRIM_THRESHOLD, 64 * 2**20))
MALLOC_MODES = ('pinned', 'default')
#: ``/proc/cpuinfo`` flags of native bf16 arithmetic
BF16_FLAGS = ('avx512_bf16', 'amx_bf16')


def _glibc() -> ctypes.CDLL | None:
    """The C library of this process if it is glibc (it has ``gnu_get_libc_version`` and ``mallopt``)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None
    return libc if hasattr(libc, 'gnu_get_libc_version') and hasattr(libc, 'mallopt') else None


def set_malloc(mode: str) -> bool:
    """Set glibc's allocator behaviour for the rest of this process (and the workers it forks).

    Args:
        mode: ``'pinned'`` (no mmap'ed buffers, no trimming; what ``tools/train.py`` sets) or ``'default'``
            (leave glibc's defaults, or, after ``'pinned'``, map buffers >= 32 MiB again as glibc does once warm;
            a free chunk the heap kept while pinned still serves a request it fits).

    Returns:
        True if the settings were applied; False where the C library is not glibc (musl, macOS: nothing to do)
        or glibc refused a value.

    Raises:
        ValueError: for a mode other than ``'pinned'`` or ``'default'``.
    """
    if mode not in MALLOC_MODES:
        raise ValueError(f'malloc mode must be one of {MALLOC_MODES}, got {mode!r}')
    libc = _glibc()
    if libc is None:
        return False
    if mode == 'default' and not getattr(set_malloc, '_pinned', False):
        return True  # never changed in this process: glibc's own defaults are in place
    settings = PINNED if mode == 'pinned' else DEFAULT_LIKE
    ok = all(libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1 for param, value in settings)
    set_malloc._pinned = mode == 'pinned'  # type: ignore[attr-defined]
    return ok


def cpu_flags(cpuinfo: str = '/proc/cpuinfo') -> tuple[str, ...]:
    """The CPU feature flags the kernel reports (empty where ``/proc/cpuinfo`` cannot be read)."""
    try:
        with open(cpuinfo) as f:
            line = next((line for line in f if line.startswith('flags')), '')
    except OSError:
        return ()
    return tuple(line.split(':', 1)[1].split()) if ':' in line else ()


def native_bf16(flags: Iterable[str] | None = None) -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively, and why.

    Args:
        flags: CPU flags to judge; default: this machine's (:func:`cpu_flags`).

    Returns:
        ``(supported, reason)``: the bf16 flags found, or why bf16 autocast would be slower than fp32 here.
    """
    flags = set(cpu_flags() if flags is None else flags)
    found = [f for f in BF16_FLAGS if f in flags]
    if found:
        return True, f'native bf16: {", ".join(found)}'
    if not flags:
        return False, 'the CPU flags could not be read (/proc/cpuinfo), so native bf16 cannot be confirmed'
    return False, (f'this CPU has no native bf16 ({" or ".join(BF16_FLAGS)} missing from its flags): bf16 '
                   'autocast would emulate bf16 arithmetic and run slower than fp32')
