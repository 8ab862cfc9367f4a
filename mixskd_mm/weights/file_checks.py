"""Telling a user's file from a weight file before anything loads it, and naming the file when it is not one.

Every reader of weights and checkpoints (:mod:`.files`, :mod:`.timm_sources`, :mod:`.released`, the tools' checks in
:mod:`mixskd_mm.engine.runner_setup`) raises :class:`WeightsFileError` with the file, what was expected and how to get
a good one. This module imports nothing of the package, so every layer can use it.
"""
from __future__ import annotations

import os
import pickle
import re
import zipfile

import torch


class WeightsFileError(ValueError):
    """A file given as weights or as a checkpoint cannot be read as one.

    The message names the file, says what was expected and how to get a good one. A ``ValueError``, so the tools'
    ``except ValueError`` turns it into one line.
    """


#: what a weight file is, for the messages
EXPECTED = ('a .safetensors file (tools/export_backbone.py writes one) or a torch checkpoint written by torch.save or '
            'tools/train.py (.pth)')
#: how to get a good file, for the messages
REMAKE = ('copy the file again if it was cut short, or re-export it with '
          '`python tools/export_backbone.py CHECKPOINT OUT.safetensors`')
#: the first bytes of torch.save's two formats: a zip archive (torch >= 1.6), or a pickle (the legacy format)
TORCH_MAGIC = (b'PK\x03\x04', b'\x80')


def check_weights_file(path: str, what: str = 'weight file', safetensors: bool = True, expected: str = EXPECTED,
                       remake: str = REMAKE) -> None:
    """Refuse what cannot be a weight file, before anything reads it: cheap checks of its first and last bytes.

    A missing path, a folder, an empty file, a ``.safetensors`` whose header does not parse, a file that starts as
    neither torch format, and a zip checkpoint cut short (its central directory, at the end, is missing). A file that
    passes can still fail to load (:func:`read_weights` reports that too), but not for these reasons.

    Args:
        path: the file.
        what: what the file was given as, for the messages (``'weight file'``, ``'--resume checkpoint'``, ...).
        safetensors: whether a ``.safetensors`` file is accepted; where only a torch checkpoint works (``--resume``,
            ``tools/test.py``) it is refused, naming the loader that reads it.
        expected: what the file should be, for the messages.
        remake: how to get a good file, for the messages.

    Raises:
        FileNotFoundError: no such path.
        WeightsFileError: any other of the cases above.

    Example:
        >>> check_weights_file('notes.pth')  # a text file  # doctest: +SKIP
        WeightsFileError: weight file 'notes.pth' is not a torch checkpoint (it starts with b'# ma', ...
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f'{what} not found: {path!r}')
    if os.path.isdir(path):
        timm_folder = os.path.isfile(os.path.join(path, 'config.json')) and safetensors
        raise WeightsFileError(f'{what} {path!r} is a folder; expected {expected}.'
                               + (f" A timm model folder loads as 'local-dir:{path}'." if timm_folder else ''))
    if os.path.getsize(path) == 0:
        raise WeightsFileError(f'{what} {path!r} is empty (0 bytes); expected {expected}: {remake}.')
    if path.endswith('.safetensors'):
        if not safetensors:
            raise WeightsFileError(f'{what} {path!r} is a safetensors file (weights alone); expected a checkpoint '
                                   f'written by tools/train.py (WORK_DIR/epoch_N.pth). Weights load into a model '
                                   f"with model.backbone.init_cfg=dict(type='Pretrained', checkpoint=FILE).")
        _check_safetensors(path, what, expected, remake)
        return
    with open(path, 'rb') as f:
        head = f.read(4)
    if not head.startswith(TORCH_MAGIC):
        raise WeightsFileError(f'{what} {path!r} is not a torch checkpoint (it starts with {head!r}, and neither '
                               f'torch format does); expected {expected}.')
    if head.startswith(TORCH_MAGIC[0]):
        try:
            zipfile.ZipFile(path).close()
        except (zipfile.BadZipFile, OSError) as err:
            raise WeightsFileError(f'{what} {path!r} is truncated or damaged: a torch checkpoint is a zip archive, '
                                   f'and this one cannot be opened ({err}); {remake}.') from None


def _check_safetensors(path: str, what: str, expected: str, remake: str) -> None:
    """Parse a ``.safetensors`` header (no tensor is read); refuse the file with the reason if it does not parse."""
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(path, framework='pt', device='cpu') as f:
            f.metadata()
    except (SafetensorError, OSError) as err:
        raise WeightsFileError(f'{what} {path!r} cannot be read as a safetensors file ({err}): it is truncated, or '
                               f'not a safetensors file; expected {expected}. If it is a torch checkpoint, rename it '
                               f'to .pth; otherwise {remake}.') from None


def load_torch(path: str, what: str):
    """``torch.load(weights_only=True)`` of a checked file; what it refuses or fails on, named with the file."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' not in str(err) or 'Unsupported operand' in str(err):  # not a pickle at all
            found = re.search(r'WeightsUnpickler error:\s*(\S[^\n]*)', str(err))
            raise WeightsFileError(f'{what} {path!r} is not a torch checkpoint '
                                   f'({found.group(1) if found else _first_line(err)}); expected {EXPECTED}.') from None
        raise RuntimeError(
            f'{path!r} needs full unpickling, which can run arbitrary code, so it was refused. '
            f'If you trust the file, convert it once in a trusted session: '
            f'`torch.save(torch.load(PATH, weights_only=False)["state_dict"], OUT)`, or export a '
            f'safetensors backbone with tools/export_backbone.py. Details: {err}') from None
    except (RuntimeError, EOFError, OSError, ValueError, LookupError, zipfile.BadZipFile) as err:
        raise WeightsFileError(f'{what} {path!r} cannot be read as a torch checkpoint, it is probably truncated or '
                               f'damaged ({type(err).__name__}: {_first_line(err)}); {REMAKE}.') from None


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__
