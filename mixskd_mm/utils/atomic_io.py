"""Atomic file writes: a temporary file in the same folder, flushed and fsynced, then ``os.replace``d onto the
target, which is atomic on POSIX and Windows: readers see the old file or the complete new one, never a truncated
one. Every file this package writes goes through :func:`atomic_write_bytes`; MMEngine's own checkpoint writes do
too once ``mixskd_mm`` is imported (:mod:`mixskd_mm.compat.atomic_writes`).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(data: bytes, path: str | Path) -> None:
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
