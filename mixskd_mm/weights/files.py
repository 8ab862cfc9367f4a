"""Reading weight files safely and loading them into a module with a loud coverage report.

MMEngine's ``Pretrained`` init loads non-strictly and only logs mismatches, so a wrong prefix loads
nothing, silently. Everything here reports matched / missing / unexpected keys and raises when the
target module is not fully covered.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from mmengine.logging import print_log
from torch import nn

from .file_checks import EXPECTED, WeightsFileError, check_weights_file, load_torch
from .record import STEM_OPTIONS, BackboneRecord
from .timm_sources import WEIGHTS_NAME, is_timm_source, resolve_timm_source

StateDict = dict[str, torch.Tensor]
#: the file a run directory holds once its training finished (``ExportBackboneHook``'s default name)
RUN_DIR_FILE = 'backbone.safetensors'

#: prefixes tried, in order, when a file's keys do not match the module's keys as they are
COMMON_PREFIXES = ('backbone.', 'module.backbone.', 'model.', 'module.', 'backbone.model.')

#: what each stem option (:data:`~mixskd_mm.weights.record.STEM_OPTIONS`) means, for the refusal message
STEM_HELP = {'cifar_stem': 'the 3x3 stride-1 stem without max-pool for 32x32 inputs',
             'stem_act': 'the activation after the stem BN; False is the released MixSKD CIFAR stem'}


def read_weights(path: str, what: str = 'weight file') -> tuple[StateDict, dict[str, str]]:
    """Read a weight file without executing code from it.

    ``.safetensors`` files are read with safetensors; anything else with ``torch.load(weights_only=True)``
    (an mmengine checkpoint written by our Runner also loads, through the allow-list in
    :mod:`mixskd_mm.compat.weights_only`). Nested ``state_dict`` / ``model`` / ``module`` entries are unwrapped.

    Args:
        path: a ``.safetensors`` or ``.pth``/``.pt``/``.bin`` file.
        what: what the file was given as, for the messages.

    Returns:
        ``(state_dict, metadata)``: tensors by name and the file's string metadata (a safetensors file's metadata,
        or a checkpoint's ``meta`` dict through :func:`string_meta`: ``cfg`` and ``experiment_name`` as they are,
        ``epoch`` / ``iter`` / ``dataset_meta`` as JSON).

    Raises:
        FileNotFoundError: no such file.
        WeightsFileError: not a weight file (a folder, empty, truncated, another format), with the file's name.
        RuntimeError: a torch file that needs full unpickling (objects beyond the allow-list), refused.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f'{what} not found: {path!r}. Export one with '
                                f'`python tools/export_backbone.py CHECKPOINT OUT.safetensors`.')
    check_weights_file(path, what)
    if path.endswith('.safetensors'):  # checked: its header parses and the file covers every tensor it lists
        from safetensors import safe_open
        with safe_open(path, framework='pt', device='cpu') as f:
            meta = dict(f.metadata() or {})
            return {k: f.get_tensor(k) for k in f.keys()}, meta
    obj = load_torch(path, what)
    meta = string_meta(obj.get('meta') if isinstance(obj, Mapping) else None)
    for key in ('state_dict', 'model', 'module'):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise WeightsFileError(f'{what} {path!r} holds a {type(obj).__name__}, not a state dict of tensors; '
                               f'expected {EXPECTED}.')
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}, meta


def string_meta(meta: Mapping | None) -> dict[str, str]:
    """A checkpoint's ``meta`` as strings: strings as they are, other JSON-serialisable values as JSON, others dropped.

    The one form in which every export route (a checkpoint read by :func:`read_weights`, a live Runner in
    ``ExportBackboneHook``) hands its run information to :func:`mixskd_mm.export.backbone_file.export_metadata`, so
    the routes write the same metadata for the same run. Tuples become JSON lists.
    """
    out = {}
    for key, value in (meta or {}).items():
        if isinstance(value, str):
            out[key] = value
            continue
        try:
            out[key] = json.dumps(value)
        except (TypeError, ValueError):
            continue
    return out


def _strip(state: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def match_prefix(state: Mapping[str, torch.Tensor], own_keys: Sequence[str],
                 prefix: str | None = None) -> tuple[StateDict, str]:
    """Pick the key prefix under which ``state`` covers the most of ``own_keys`` and strip it.

    Args:
        state: tensors read from a file.
        own_keys: the target module's state-dict keys.
        prefix: use exactly this prefix (``''`` for none) instead of searching.

    Returns:
        ``(stripped_state, prefix_used)``.
    """
    if prefix is not None:
        return _strip(state, prefix), prefix
    own = set(own_keys)
    best, best_prefix, best_hits = dict(state), '', len(own.intersection(state))
    for cand in COMMON_PREFIXES:
        stripped = _strip(state, cand)
        hits = len(own.intersection(stripped))
        if hits > best_hits:
            best, best_prefix, best_hits = stripped, cand, hits
    return best, best_prefix


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], source: str = 'state dict',
              prefix: str | None = None, expected_arch: str | None = None,
              file_arch: str | None = None, logger: str = 'current') -> dict[str, list]:
    """Load ``state`` into ``module``, report the coverage, and raise unless every key is covered.

    Extra keys in the file (a classifier head, say) are reported and ignored; a missing key or a
    shape mismatch is an error, because the module would silently keep random weights. Extra keys
    from a file recorded as another architecture are an error too: a deeper model of the same family
    (``resnet34`` into ``resnet18``) covers every key and would otherwise load truncated.

    Args:
        module: the target module.
        state: tensors by name (any common prefix is detected, see :func:`match_prefix`).
        source: a name for the weights, used in messages (usually the file path).
        prefix: an explicit prefix to select and strip, e.g. ``'backbone.'``.
        expected_arch: the target's architecture name, for the error message.
        file_arch: the architecture recorded in the file, if any.
        logger: the mmengine logger to report to.

    Returns:
        dict with ``matched``, ``missing``, ``unexpected`` and ``mismatched`` key lists.
    """
    own = module.state_dict()
    stripped, used = match_prefix(state, list(own), prefix)
    matched: list[str] = []
    mismatched: list[str] = []
    for k, v in own.items():
        if k in stripped:
            (matched if tuple(stripped[k].shape) == tuple(v.shape) else mismatched).append(k)
    missing = [k for k in own if k not in stripped]
    unexpected = [k for k in stripped if k not in own]
    report = dict(matched=matched, missing=missing, unexpected=unexpected, mismatched=mismatched)
    print_log(f'loaded {source}: {len(matched)}/{len(own)} tensors matched (prefix {used!r}), '
              f'{len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} shape mismatches',
              logger=logger)
    other_arch = bool(file_arch and expected_arch and file_arch.split('.')[0] != expected_arch.split('.')[0])
    if missing or mismatched or (other_arch and unexpected):
        arch = f' for {expected_arch}' if expected_arch else ''
        hint = ''
        if other_arch:
            hint = f' The file was exported from {file_arch!r}, a different architecture.'
        elif not matched:
            hint = (f' No key matched under any common prefix {COMMON_PREFIXES}; pass the right `prefix` '
                    f'(file keys look like {list(state)[:3]}).')
        shapes = [f'{k}: file {tuple(stripped[k].shape)} vs model {tuple(own[k].shape)}' for k in mismatched[:3]]
        raise RuntimeError(
            f'{source} does not fit the model{arch}: {len(matched)}/{len(own)} tensors matched; '
            f'missing e.g. {missing[:5]}; shape mismatches e.g. {shapes}; {len(unexpected)} unexpected.{hint} '
            f'Use a checkpoint of the same architecture (tools/export_backbone.py writes one).')
    module.load_state_dict({k: stripped[k] for k in matched}, strict=False)
    return report


def check_stem_options(module: nn.Module, meta: Mapping[str, str], source: str) -> None:
    """Refuse a file whose recorded stem options (:data:`STEM_OPTIONS`) differ from ``module``'s.

    A backbone with another stem loads every tensor of such a file (``stem_act``) and computes a different
    function, silently; a ``cifar_stem`` difference would only show as a shape error on the stem conv. Files
    that record no ``model_name`` (not written by our export or converter) record no options and are not checked;
    in ours, an absent option means its default (:class:`~mixskd_mm.weights.record.BackboneRecord`), and one whose
    value cannot be read is not checked.

    Args:
        module: the target backbone; options it has no boolean attribute for are not checked.
        meta: the file's metadata (:func:`read_weights`).
        source: the file, for the message.
    """
    record = BackboneRecord.from_metadata(meta)
    if record is None:
        return
    for option in STEM_OPTIONS:
        own, recorded = getattr(module, option, None), getattr(record, option)
        if isinstance(own, bool) and option not in record.unreadable and own != recorded:
            raise RuntimeError(
                f'{source} was exported from a backbone with {option}={recorded}, but this backbone has '
                f'{option}={own} ({option}: {STEM_HELP[option]}). Its tensors would load and compute a different '
                f'function. Set `{option}={recorded}` on TimmStageBackbone (in a config: '
                f'model.backbone.{option}={recorded}).')


def load_weights_file(module: nn.Module, path: str, prefix: str | None = None,
                      expected_arch: str | None = None) -> dict[str, Any]:
    """:func:`read_weights` then :func:`load_into`; the file's ``model_name`` and stem options are checked.

    A file recorded as another architecture fails in :func:`load_into`, with that message; one of the same
    architecture whose ``cifar_stem`` / ``stem_act`` differ from ``module``'s fails in :func:`check_stem_options`.

    Args:
        module: the target module.
        path: a weight file; a timm model folder named ``local-dir:PATH`` / ``hf-hub:org/name``
            (:mod:`mixskd_mm.weights.timm_sources`; its ``config.json`` architecture must be ``expected_arch``); or a
            run directory (:func:`run_dir_weights`).
        prefix: an explicit key prefix, see :func:`load_into`.
        expected_arch: the target's architecture name.

    Returns:
        :func:`load_into`'s report, and ``metadata``: what the file (or folder) records, in string form.
    """
    folder_meta: dict[str, str] = {}
    source = path
    if os.path.isdir(path):
        path = run_dir_weights(path)
    if is_timm_source(path):
        path, folder_meta = resolve_timm_source(path, expected_arch)
    if path != source:
        source = f'{source} ({path})'
    state, meta = read_weights(path)
    meta = dict(folder_meta, **meta) if meta.get('model_name') else dict(meta, **folder_meta)
    file_arch = meta.get('model_name')
    if not (file_arch and expected_arch and file_arch.split('.')[0] != expected_arch.split('.')[0]):
        check_stem_options(module, meta, source)
    report: dict[str, Any] = dict(load_into(module, state, source=source, prefix=prefix, expected_arch=expected_arch,
                                            file_arch=file_arch))
    report['metadata'] = meta
    return report


def run_dir_weights(folder: str) -> str:
    """The weights of a folder given as a path: a run directory's ``backbone.safetensors`` (what
    ``ExportBackboneHook`` writes when training ends), or a timm model folder as ``local-dir:FOLDER``.

    Raises:
        FileNotFoundError: the folder holds neither, with what it does hold.
    """
    if os.path.isfile(os.path.join(folder, 'config.json')) and os.path.isfile(os.path.join(folder, WEIGHTS_NAME)):
        return f'local-dir:{folder}'
    weights = os.path.join(folder, RUN_DIR_FILE)
    if not os.path.isfile(weights):
        raise FileNotFoundError(
            f'{folder!r} is a folder without {RUN_DIR_FILE} (a run directory has one once its training finished: '
            f'ExportBackboneHook writes it) and is not a timm model folder (config.json + {WEIGHTS_NAME}); it holds '
            f'{sorted(os.listdir(folder))[:10]}. Give a weight file, a finished run directory or local-dir:FOLDER.')
    return weights
