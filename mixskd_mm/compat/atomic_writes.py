"""Fix: MMEngine's local writes (checkpoints, ``best_*.pth``, ``last_checkpoint``) become atomic.

MMEngine 0.10.7 writes them with a plain ``open(path, 'wb')``; a process killed mid-write leaves a truncated file
that ``--resume auto`` then fails on. :func:`apply` routes ``LocalBackend.put`` / ``put_text`` through
:func:`mixskd_mm.utils.atomic_io.atomic_write_bytes`, which leaves what a plain write leaves (the same bytes, the
folder created, the permission bits of ``open``, a symbolic link written through); only a write cut short differs:
the previous file stays. :func:`undo` puts MMEngine's own methods back.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mixskd_mm.utils.atomic_io import atomic_write_bytes

#: MMEngine's own ``LocalBackend`` methods while the fix is applied (empty otherwise)
_ORIGINAL: dict[str, Any] = {}


def put(self: Any, obj: bytes, filepath: str | Path) -> None:
    """Write bytes atomically (mixskd_mm.compat.atomic_writes)."""
    atomic_write_bytes(obj, filepath)


def put_text(self: Any, obj: str, filepath: str | Path, encoding: str = 'utf-8') -> None:
    """Write text atomically (mixskd_mm.compat.atomic_writes)."""
    atomic_write_bytes(obj.encode(encoding), filepath)


def apply() -> None:
    """Route MMEngine's ``LocalBackend.put`` and ``put_text`` through :func:`atomic_write_bytes` (idempotent)."""
    if _ORIGINAL:
        return
    from mmengine.fileio.backends.local_backend import LocalBackend
    _ORIGINAL.update(put=LocalBackend.put, put_text=LocalBackend.put_text)
    LocalBackend.put = put
    LocalBackend.put_text = put_text


def undo() -> None:
    """Give ``LocalBackend`` MMEngine's own ``put`` and ``put_text`` back (nothing if the fix is not applied)."""
    if not _ORIGINAL:
        return
    from mmengine.fileio.backends.local_backend import LocalBackend
    for name, method in _ORIGINAL.items():
        setattr(LocalBackend, name, method)
    _ORIGINAL.clear()


def is_applied() -> bool:
    """Whether MMEngine's local writes go through :func:`atomic_write_bytes` now."""
    return bool(_ORIGINAL)
