"""Reading the authors' released MixSKD checkpoints (Self-KD-Lib's ``{'net', 'acc', 'epoch', 'optimizer'}`` torch
files) weights-only, and checking their ``net`` holds the known parts; :mod:`mixskd_mm.export.released` converts them.
No model is needed to read one, so this sits with the weights io, beneath the models.
"""
from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping

import torch

from .file_checks import WeightsFileError, check_weights_file
from .files import StateDict

#: the parts of a released ``net`` and what they are
NET_PARTS = {'backbone.': 'the backbone', 'auxiliary_classifier.': 'the exits',
             'final_aux_classifier.': 'the self-teacher'}
DATA_PARALLEL_PREFIX = 'module.'
LAYOUT = ("a Self-KD-Lib MixSKD checkpoint: a torch file holding {'net': state dict, 'acc', 'epoch', 'optimizer'}, "
          "'net' with keys backbone.* (torchvision ResNet names), auxiliary_classifier.* and final_aux_classifier.*")




class ReleasedCheckpointError(ValueError):
    """The file is not a released MixSKD checkpoint of a supported architecture."""


def _weights_only_refusal(err: Exception) -> str:
    """The one line of torch's weights-only refusal that names the object (``Unsupported global: ...``)."""
    found = re.search(r'WeightsUnpickler error:(.*?)(Check the documentation|$)', str(err), re.S)
    line = ' '.join((found.group(1) if found else str(err)).split())
    return line.split(' Please use')[0]


def load_released(path: str) -> Mapping:
    """Read a released checkpoint with ``torch.load(weights_only=True)``: tensors and numbers only, no code runs.

    Args:
        path: the released ``.pth.tar`` / ``.pth`` file.

    Returns:
        The top-level dict.

    Raises:
        FileNotFoundError: no such file.
        ReleasedCheckpointError: not a torch file, or one holding objects beyond tensors and numbers.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f'released checkpoint not found: {path!r}')
    if path.endswith('.safetensors'):
        raise ReleasedCheckpointError(f'{path!r} is a safetensors file, not {LAYOUT}. An exported backbone loads '
                                      f'as it is: TimmStageBackbone(..., pretrained=FILE).')
    try:
        check_weights_file(path, 'released checkpoint', expected=LAYOUT,
                           remake='download it again')
    except WeightsFileError as err:
        raise ReleasedCheckpointError(str(err)) from None
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' not in str(err) or 'Unsupported operand' in str(err):  # not a pickle at all
            raise ReleasedCheckpointError(f'{path!r} is not a torch checkpoint ({_weights_only_refusal(err)}); '
                                          f'expected {LAYOUT}') from None
        raise ReleasedCheckpointError(
            f'{path!r} holds objects beyond tensors and numbers, so weights-only loading refused it '
            f"({_weights_only_refusal(err)}). A released checkpoint ({{'net', 'acc', 'epoch', 'optimizer'}}) holds "
            f'only tensors and numbers (the optimizer entry too: SGD buffers and hyperparameters). If you trust the '
            f'file, keep the weights '
            f'in a trusted session: ckpt = torch.load(SRC, weights_only=False); '
            f"torch.save({{'net': ckpt['net'], 'acc': ckpt.get('acc'), 'epoch': ckpt.get('epoch')}}, NEW), "
            f'then convert NEW.') from None
    except Exception as err:  # noqa: BLE001 - torch raises KeyError / EOFError / RuntimeError for non-torch files
        raise ReleasedCheckpointError(f'{path!r} is not a torch checkpoint ({type(err).__name__}: {err}); '
                                      f'expected {LAYOUT}') from None


def released_net(ckpt: object, source: str) -> StateDict:
    """The ``net`` state dict of a loaded checkpoint, ``module.`` stripped, checked to hold only the known parts.

    Args:
        ckpt: what :func:`load_released` returned.
        source: the file name, for messages.
    """
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get('net'), Mapping):
        found = f'a dict with keys {sorted(map(str, ckpt))[:8]}' if isinstance(ckpt, Mapping) else \
            f'a {type(ckpt).__name__}'
        hint = ''
        if isinstance(ckpt, Mapping) and 'state_dict' in ckpt:
            hint = (' It looks like an mmengine checkpoint (mixskd_mm / mmdet / mmseg): export its backbone with '
                    'tools/export_backbone.py instead.')
        raise ReleasedCheckpointError(f'{source} holds {found}, no \'net\' state dict; expected {LAYOUT}.{hint}')
    net = dict(ckpt['net'])
    not_tensors = [k for k, v in net.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ReleasedCheckpointError(f"{source}: 'net' holds non-tensor entries {not_tensors[:5]}; expected {LAYOUT}")
    if net and all(k.startswith(DATA_PARALLEL_PREFIX) for k in net):  # saved from the DataParallel wrapper
        net = {k[len(DATA_PARALLEL_PREFIX):]: v for k, v in net.items()}
    unexpected = [k for k in net if not k.startswith(tuple(NET_PARTS))]
    if unexpected:
        raise ReleasedCheckpointError(
            f"{source}: 'net' holds {len(unexpected)} keys outside {', '.join(p + '*' for p in NET_PARTS)}, "
            f'e.g. {unexpected[:5]}; expected {LAYOUT}')
    if not any(k.startswith('backbone.') for k in net):
        raise ReleasedCheckpointError(f"{source}: 'net' holds no backbone.* tensors; expected {LAYOUT}")
    return net
