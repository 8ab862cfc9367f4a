"""Whether a folder a user named (an output folder, a work dir) can be made and written, before anything runs."""
from __future__ import annotations

import os
import os.path as osp


def folder_problem(path: str) -> tuple[str, str] | None:
    """Why ``path`` cannot be used as a folder to create or write into, or ``None`` when it can.

    The nearest existing folder of ``path`` (itself, or the first parent that exists) is checked with a cheap
    ``os.access``.

    Returns:
        ``(nearest, 'file')`` when ``path`` is a file or lies under one, ``(nearest, 'not writable')`` when the
        nearest existing folder cannot be written, else ``None``.
    """
    existing = osp.abspath(path)
    while not osp.exists(existing):
        existing = osp.dirname(existing)
    if not osp.isdir(existing):
        return existing, 'file'
    if not os.access(existing, os.W_OK | os.X_OK):
        return existing, 'not writable'
    return None
