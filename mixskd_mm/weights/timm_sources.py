"""Weights named as timm names them: ``local-dir:PATH`` (a timm model folder) and ``hf-hub:org/name[@revision]``.

A timm model folder holds ``config.json`` (timm's schema: ``architecture``, ``num_classes``, ``pretrained_cfg``,
``model_args``) beside ``model.safetensors``; ``tools/export_backbone.py CKPT OUT_DIR --format timm`` writes one.
The config is parsed by timm's own loaders (``load_model_config_from_path`` / ``load_model_config_from_hf``) and
a Hub repository is fetched by ``huggingface_hub`` into its cache, so ``HF_HUB_OFFLINE=1`` / ``HF_HUB_CACHE``
work as they do for timm. Only ``model.safetensors`` is read: nothing is unpickled. A ``local-dir:`` name never
touches the network.
"""
from __future__ import annotations

import json
import os

from .file_checks import WeightsFileError
from .record import timm_config_metadata

SOURCES = ('local-dir:', 'hf-hub:')
WEIGHTS_NAME = 'model.safetensors'
CONFIG_NAME = 'config.json'
#: how to write a folder, for the messages
WRITE_HINT = 'write one with `python tools/export_backbone.py CHECKPOINT OUT_DIR --format timm`'


def is_timm_source(name: object) -> bool:
    """Whether ``name`` is a ``local-dir:`` or ``hf-hub:`` name (and not a file path)."""
    return isinstance(name, str) and name.startswith(SOURCES)


def _local(name: str, folder: str) -> tuple[str, dict, str, dict]:
    """``(weights file, model_args, architecture, pretrained_cfg)`` of a folder, its config parsed by timm."""
    from timm.models._hub import load_model_config_from_path
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'{name}: {folder!r} is not a folder. A local-dir name points at a timm model '
                                f'folder (config.json + model.safetensors); {WRITE_HINT}.')
    config_file = os.path.join(folder, CONFIG_NAME)
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f'{name}: the folder has no {CONFIG_NAME} (it holds {sorted(os.listdir(folder))}). '
                                f'A timm model folder needs config.json beside model.safetensors; {WRITE_HINT}.')
    try:
        pretrained_cfg, arch, model_args = load_model_config_from_path(folder)
    except (ValueError, LookupError, TypeError, AttributeError) as err:  # bad JSON, no architecture, not a dict
        raise WeightsFileError(f'{name}: {config_file!r} is not a timm model config ({type(err).__name__}: {err}); '
                               f'expected JSON with architecture, num_classes, pretrained_cfg and model_args; '
                               f'{WRITE_HINT}.') from None
    weights = os.path.join(folder, WEIGHTS_NAME)
    if not os.path.isfile(weights):
        raise FileNotFoundError(
            f'{name}: the folder has no {WEIGHTS_NAME} (it holds {sorted(os.listdir(folder))}). Only safetensors '
            f'weights are read (other formats would need unpickling); re-export the folder ({WRITE_HINT}) or '
            f'convert a trusted file once with safetensors.torch.save_file.')
    return weights, model_args, arch, pretrained_cfg


def _hub(name: str, repo: str) -> tuple[str, dict, str, dict]:
    """``(weights file in the Hugging Face cache, model_args, architecture, pretrained_cfg)`` of a Hub repository."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
    from timm.models import load_model_config_from_hf
    repo_id, _, revision = repo.partition('@')
    try:
        pretrained_cfg, arch, model_args = load_model_config_from_hf(repo)
        weights = hf_hub_download(repo_id, WEIGHTS_NAME, revision=revision or None)
    except (EntryNotFoundError, LocalEntryNotFoundError) as err:
        offline = ' (HF_HUB_OFFLINE is set: only the local Hugging Face cache is searched)' \
            if os.environ.get('HF_HUB_OFFLINE', '0') not in ('0', '', 'false') else ''
        raise FileNotFoundError(
            f'{name}: could not get {CONFIG_NAME} and {WEIGHTS_NAME} of {repo_id!r}{offline}. The repository must hold '
            f'a timm model folder with safetensors weights ({WRITE_HINT}, then upload it). Details: {err}') from None
    return weights, model_args, arch, pretrained_cfg


def resolve_timm_source(name: str, expected_arch: str | None = None) -> tuple[str, dict[str, str]]:
    """The local ``model.safetensors`` of a ``local-dir:`` / ``hf-hub:`` name, and metadata from its ``config.json``.

    Args:
        name: ``local-dir:PATH`` or ``hf-hub:org/name[@revision]``.
        expected_arch: the target's timm model name; a folder of another architecture is refused.

    Returns:
        ``(weights_path, metadata)``: the metadata holds ``model_name`` (the config's ``architecture``) and the stem
        options its ``model_args`` record, in the string form of our exported files' metadata, for
        :func:`mixskd_mm.weights.files.check_stem_options` (:func:`~mixskd_mm.weights.record.timm_config_metadata`),
        and its ``pretrained_cfg`` as JSON (normalisation and input size, :mod:`mixskd_mm.weights.starts`).

    Raises:
        FileNotFoundError: no folder, no config.json or no model.safetensors.
        WeightsFileError: a config.json timm cannot parse (not JSON, no ``architecture``).
        ValueError: the config's architecture is not ``expected_arch``.
    """
    kind, _, ident = name.partition(':')
    weights, model_args, arch, pretrained_cfg = _local(name, ident) if kind == 'local-dir' else _hub(name, ident)
    if expected_arch and arch.split('.')[0] != expected_arch.split('.')[0]:
        raise ValueError(f'{name}: its config.json says architecture {arch!r}, but the backbone is '
                         f'{expected_arch!r}. Set model_name={arch!r} on TimmStageBackbone (in a config: '
                         f'model.backbone.model_name={arch!r}), or load a folder exported from {expected_arch!r}.')
    meta = timm_config_metadata(arch, model_args)
    if pretrained_cfg:
        meta['pretrained_cfg'] = json.dumps(dict(pretrained_cfg), default=str)
    return weights, meta
