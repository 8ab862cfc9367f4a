"""Where a backbone's weights start: a pretrained source named once, resolved to a local file before any run.

A *start* is what ``tools/compare.py --init`` and the fine-tuning recipes name:

=====================  ===========================================================================================
``scratch``            random weights (the backbone's ``init`` scheme)
``timm``               timm's default pretrained weights of the model (``timm.create_model(name, pretrained=True)``),
                       their ``model.safetensors`` fetched from the Hugging Face Hub into its cache, or read from it
``hf-hub:ORG/NAME``    a timm model folder on the Hub (``config.json`` + ``model.safetensors``), through the cache
``local-dir:PATH``     a timm model folder on disk (``tools/export_backbone.py CKPT DIR --format timm`` writes one)
a file                 a backbone file of ours (``backbone.safetensors``, or a ``.pth`` read weights-only)
a run directory        a work directory of ``tools/train.py`` (or a comparison's ``runs/NAME``): its exported
                       ``backbone.safetensors``
=====================  ===========================================================================================

:func:`resolve_start` does every network access a start needs, once: what it returns names a local file, so the
runs built from it never touch the network. It also reads the source's ``pretrained_cfg`` (timm's: mean and std on
the 0-1 scale, input size, interpolation) where the source records one.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from .file_checks import WeightsFileError
from .files import RUN_DIR_FILE, read_weights, run_dir_weights
from .timm_sources import WEIGHTS_NAME, is_timm_source, resolve_timm_source

SCRATCH = 'scratch'
TIMM = 'timm'
#: what an ``--init`` value may be, for the messages
KINDS = (f"'{SCRATCH}', '{TIMM}', 'hf-hub:ORG/NAME', 'local-dir:PATH', a backbone file (.safetensors / .pth) or a "
         f'run directory holding {RUN_DIR_FILE}')
OFFLINE_HINT = (f"Use --init {SCRATCH} (random weights), set HF_HUB_OFFLINE=1 with a Hugging Face cache that holds "
                f"the weights (HF_HUB_CACHE), or give a folder on disk as local-dir:PATH")


class StartError(RuntimeError):
    """A start that cannot be used: unknown, unreachable, or of another architecture."""


@dataclass(frozen=True)
class Start:
    """A resolved start: what the runs load, and what the report says about it.

    Attributes:
        spec: the start as the user named it (``'scratch'``, ``'timm'``, ``'local-dir:...'``...).
        weights: the local file the runs load (``TimmStageBackbone(pretrained=weights)``); ``None`` for scratch.
        sha256: the weights file's SHA-256 (hex); ``None`` for scratch.
        architecture: the timm model the source records (``None``: scratch, or a file that records none).
        mean: per-channel mean on timm's 0-1 scale, from the source's ``pretrained_cfg``; ``None``: none recorded.
        std: per-channel std on the 0-1 scale.
        input_size: the side of the images the source was trained at (``pretrained_cfg['input_size']``).
        interpolation: the source's resize interpolation (``'bilinear'``, ``'bicubic'``...).
    """

    spec: str
    weights: str | None = None
    sha256: str | None = None
    architecture: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    input_size: int | None = None
    interpolation: str | None = None

    @property
    def pretrained(self) -> bool:
        """Whether the runs start from loaded weights."""
        return self.weights is not None

    def normalisation(self) -> tuple[list[float], list[float]] | None:
        """``(mean, std)`` on the 0-255 scale of ``ClsDataPreprocessor``, or ``None`` when the source records none."""
        if self.mean is None or self.std is None:
            return None
        return [round(m * 255, 4) for m in self.mean], [round(s * 255, 4) for s in self.std]

    def to_json(self) -> dict[str, Any]:
        """The record as ``results.json`` and ``settings.json`` hold it."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def sha256_of(path: str) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def parse_pretrained_cfg(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """``mean``, ``std``, ``input_size`` (a side) and ``interpolation`` of a timm ``pretrained_cfg`` dict, where set."""
    out: dict[str, Any] = {}
    if not cfg:
        return out
    if cfg.get('mean') is not None and cfg.get('std') is not None:
        out['mean'], out['std'] = tuple(float(m) for m in cfg['mean']), tuple(float(s) for s in cfg['std'])
    size = cfg.get('input_size')
    if isinstance(size, (list, tuple)) and size:
        out['input_size'] = int(size[-1])
    if cfg.get('interpolation'):
        out['interpolation'] = str(cfg['interpolation'])
    return out


def recorded_pretrained_cfg(meta: Mapping[str, str]) -> dict[str, Any]:
    """:func:`parse_pretrained_cfg` of the ``pretrained_cfg`` JSON a file's (or folder's) metadata records; ``{}``
    when it records none or an unreadable one."""
    try:
        return parse_pretrained_cfg(json.loads(meta['pretrained_cfg'])) if meta.get('pretrained_cfg') else {}
    except ValueError:
        return {}


def resolve_start(spec: str, model_name: str) -> Start:
    """The local weights file and ``pretrained_cfg`` of a start, fetched once (see the module's table).

    Args:
        spec: the start's name.
        model_name: the backbone's timm model; a source recording another architecture is refused.

    Returns:
        The :class:`Start`.

    Raises:
        StartError: an unknown name, timm weights neither reachable nor cached (the message names the ways out), a
            source of another architecture.
        FileNotFoundError / WeightsFileError: a folder or file that is not what its name says, with the fix.
    """
    spec = spec.strip()
    if spec == SCRATCH:
        return Start(spec)
    if spec == TIMM:
        return _timm_default(model_name)
    if is_timm_source(spec):
        try:
            weights, meta = resolve_timm_source(spec, model_name)
        except ValueError as err:
            raise StartError(str(err)) from None
        return _start(spec, weights, meta, model_name)
    if os.path.isdir(spec):
        try:
            weights = run_dir_weights(spec)
        except FileNotFoundError as err:
            raise StartError(f'--init {spec}: {err}') from None
        if is_timm_source(weights):
            return replace(resolve_start(weights, model_name), spec=spec)
        _, meta = read_weights(weights, what=f'--init {spec}')
        return _start(spec, weights, meta, model_name)
    if os.path.isfile(spec):
        _, meta = read_weights(spec, what=f'--init {spec}')
        return _start(spec, spec, meta, model_name)
    raise StartError(f'--init {spec!r}: no such file or folder, and not one of {KINDS}.')


def _start(spec: str, weights: str, meta: Mapping[str, str], model_name: str) -> Start:
    arch = meta.get('model_name')
    if arch and arch.split('.')[0] != model_name.split('.')[0]:
        raise StartError(f'--init {spec}: its weights are of {arch!r}, but the backbone is {model_name!r}. Use '
                         f'--model {arch.split(".")[0]}, or a source exported from {model_name!r}.')
    return Start(spec, weights=os.path.abspath(weights), sha256=sha256_of(weights), architecture=arch,
                 **recorded_pretrained_cfg(meta))


def _timm_default(model_name: str) -> Start:
    """timm's default pretrained weights of ``model_name``, through the Hugging Face cache."""
    from timm.models import get_pretrained_cfg
    cfg = get_pretrained_cfg(model_name)
    if cfg is None or not cfg.hf_hub_id:
        raise StartError(f'--init {TIMM}: timm lists no pretrained weights on the Hugging Face Hub for {model_name!r}. '
                         f'Give a file or a local-dir:PATH folder of its weights, or --init {SCRATCH}.')
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
    try:
        weights = hf_hub_download(cfg.hf_hub_id, WEIGHTS_NAME)
    except (LocalEntryNotFoundError, EntryNotFoundError, OSError) as err:
        raise StartError(f'--init {TIMM}: could not get timm\'s weights of {model_name!r} ({cfg.hf_hub_id}/'
                         f'{WEIGHTS_NAME}): no network and no copy in the Hugging Face cache '
                         f'({type(err).__name__}). {OFFLINE_HINT}.') from None
    if os.path.getsize(weights) == 0:
        raise WeightsFileError(f'--init {TIMM}: the cached {weights!r} is empty; delete it and fetch it again.')
    return Start(TIMM, weights=os.path.abspath(weights), sha256=sha256_of(weights), architecture=model_name,
                 **parse_pretrained_cfg(asdict(cfg)))
