"""Fix: MMEngine's local writes (checkpoints, ``best_*.pth``, ``last_checkpoint``) become atomic.

MMEngine 0.10.7 writes them with a plain ``open(path, 'wb')``; a process killed mid-write leaves a truncated file
that ``--resume auto`` then fails on. :func:`apply` routes ``LocalBackend.put`` / ``put_text`` through
:func:`mixskd_mm.utils.atomic_io.atomic_write_bytes`.
"""
from __future__ import annotations

from pathlib import Path

from mixskd_mm.utils.atomic_io import atomic_write_bytes

_DONE = False


def apply() -> None:
    """Route MMEngine's ``LocalBackend.put`` and ``put_text`` through :func:`atomic_write_bytes` (idempotent)."""
    global _DONE
    if _DONE:
        return
    from mmengine.fileio.backends.local_backend import LocalBackend

    def put(self, obj: bytes, filepath: str | Path) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: str | Path, encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)

    put.__doc__ = 'Write bytes atomically (mixskd_mm.compat.atomic_writes).'
    put_text.__doc__ = 'Write text atomically (mixskd_mm.compat.atomic_writes).'
    LocalBackend.put = put
    LocalBackend.put_text = put_text
    _DONE = True
