"""Atomic file writes: a temporary file in the same folder, flushed and fsynced, then ``os.replace``d onto the
target, which is atomic on POSIX and Windows: readers see the old file or the complete new one, never a truncated
one. Every file this package writes goes through :func:`atomic_write_bytes`; MMEngine's own checkpoint writes do
too once ``mixskd_mm`` is imported (:mod:`mixskd_mm.compat.atomic_writes`). Apart from that, the result is what a
plain ``open(path, 'wb')`` leaves: the folder created, the permission bits ``open`` gives (an existing file's own,
else ``0o666`` less the umask; the temporary file alone would be ``0o600``), and a symbolic link written through.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def _plain_write_mode(path: str) -> int:
    """The permission bits ``open(path, 'wb')`` leaves: the existing file's, else ``0o666`` less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)  # reading the umask means setting it; put back at once
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_bytes(data: bytes, path: str | Path) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + ``os.replace``)."""
    path = os.fspath(path)
    if os.path.islink(path):  # write through the link, as open() does, instead of replacing the link
        path = os.path.realpath(path)
    mode = _plain_write_mode(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix='_' + os.path.basename(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            os.chmod(tmp, mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
