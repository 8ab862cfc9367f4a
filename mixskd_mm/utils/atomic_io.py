"""Atomic writes for MMEngine's local file backend: a crash while saving never leaves a truncated file.

MMEngine 0.10.7 writes checkpoints, ``best_*.pth`` and the ``last_checkpoint`` pointer with a plain
``open(path, 'wb')``; a process killed mid-write leaves a truncated file that ``--resume auto`` then
fails on. :func:`make_local_writes_atomic` (run when ``mixskd_mm`` is imported) makes
``LocalBackend.put`` / ``put_text`` write to a temporary file in the same folder, flush and fsync it,
and ``os.replace`` it onto the target, which is atomic on POSIX and Windows: readers see the old file
or the complete new one.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

_DONE = False


def atomic_write_bytes(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + ``os.replace``)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix='_' + os.path.basename(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def make_local_writes_atomic() -> None:
    """Route MMEngine's ``LocalBackend.put`` and ``put_text`` through :func:`atomic_write_bytes` (idempotent)."""
    global _DONE
    if _DONE:
        return
    from mmengine.fileio.backends.local_backend import LocalBackend

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)

    put.__doc__ = 'Write bytes atomically (mixskd_mm.utils.atomic_io).'
    put_text.__doc__ = 'Write text atomically (mixskd_mm.utils.atomic_io).'
    LocalBackend.put = put
    LocalBackend.put_text = put_text
    _DONE = True
