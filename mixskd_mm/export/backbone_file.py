"""Checkpoint -> the backbone alone, with timm's own key names (safetensors, an mmengine ``.pth``, or a timm folder).

One reader (:func:`read_checkpoint`, through :func:`mixskd_mm.weights.files.read_weights`) and one metadata writer
(:func:`export_metadata`, the :class:`~mixskd_mm.weights.record.BackboneRecord` of the run's backbone config and the
run it comes from) serve ``tools/export_backbone.py`` and ``ExportBackboneHook`` (which hands it :func:`runner_meta`,
the run information a Runner writes into its checkpoints), so both write the same metadata. A timm model folder
(``config.json`` + ``model.safetensors`` + model card) is written by :mod:`mixskd_mm.export.timm_folder`.

The exported file loads into ``TimmStageBackbone(pretrained=FILE)``, into ``TimmStageBackbone``
through ``init_cfg=dict(type='Pretrained', checkpoint=FILE)``, and into plain
``timm.create_model(name, features_only=True, pretrained=True, pretrained_cfg_overlay=dict(file=FILE))``.
"""
from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping

import torch

from mixskd_mm.utils.atomic_io import atomic_write_bytes
from mixskd_mm.weights.files import StateDict, read_weights, string_meta
from mixskd_mm.weights.record import BackboneRecord

BACKBONE_PREFIX = 'backbone.'


def backbone_tensors(state: Mapping[str, torch.Tensor], prefix: str = BACKBONE_PREFIX) -> StateDict:
    """The tensors under ``prefix`` with the prefix stripped (``backbone.layer1.0...`` -> ``layer1.0...``)."""
    out = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and isinstance(v, torch.Tensor)}
    if not out:
        sample = list(state)[:5]
        raise ValueError(f'the checkpoint holds no backbone: no key starts with {prefix!r} (keys look like '
                         f'{sample}). Pass the checkpoint of a mixskd_mm / mmdet / mmseg model whose backbone is '
                         f'TimmStageBackbone, or set --prefix.')
    return out


def run_config(meta: Mapping | None):
    """The training config recorded in a checkpoint's ``meta['cfg']`` as an mmengine ``Config``, or ``None``.

    A config that no longer parses gives ``None``: the export still works, it only loses the metadata.
    """
    if not meta or not isinstance(meta.get('cfg'), str):
        return None
    from mmengine.config import Config
    try:
        return Config.fromstring(meta['cfg'], '.py')
    except Exception:  # noqa: BLE001 - whatever a config that no longer parses raises, only the metadata is lost
        return None


def backbone_record(cfg) -> BackboneRecord | None:
    """The :class:`~mixskd_mm.weights.record.BackboneRecord` of a training config's ``model.backbone`` (``cfg`` as
    :func:`run_config` gives it), or ``None`` when it has no ``model_name``."""
    backbone = cfg.get('model', {}).get('backbone', {}) if cfg is not None else {}
    return BackboneRecord.from_args(backbone) if backbone.get('model_name') else None


def backbone_metadata(meta: Mapping | None) -> dict[str, str]:
    """What an exported file records about the backbone of the run whose checkpoint ``meta`` is given: the
    :class:`~mixskd_mm.weights.record.BackboneRecord` of its backbone config as metadata (``model_name``,
    ``out_indices`` and the options that differ from their defaults), the same a built backbone's
    ``export_metadata()`` gives. ``{}`` when the checkpoint records no config with a ``model.backbone.model_name``."""
    record = backbone_record(run_config(meta))
    return record.to_metadata() if record is not None else {}


def read_checkpoint(path: str) -> tuple[StateDict, dict[str, str]]:
    """``(state_dict, meta)`` of an mmengine checkpoint, read by :func:`~mixskd_mm.weights.files.read_weights`.

    Weights-only (allow-listed mmengine types); ``meta`` in :func:`~mixskd_mm.weights.files.string_meta` form.

    Raises:
        FileNotFoundError: no such path.
        WeightsFileError: not a checkpoint (a folder, empty, truncated, another format), with the file's name.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f'checkpoint not found: {path!r}')
    return read_weights(path, what='checkpoint')


def runner_meta(runner) -> dict[str, str]:
    """The run information an mmengine Runner writes into a checkpoint's ``meta``, read from the live Runner.

    The entries :func:`export_metadata` and the model card use (``cfg``, ``experiment_name``, ``epoch``, ``iter``,
    ``dataset_meta``), with the values ``Runner.save_checkpoint`` records, in :func:`string_meta` form.
    """
    meta = dict(cfg=runner.cfg.pretty_text, experiment_name=runner.experiment_name, epoch=runner.epoch,
                iter=runner.iter)
    dataset = getattr(runner.train_dataloader, 'dataset', None)
    if dataset is not None and hasattr(dataset, 'metainfo'):
        meta['dataset_meta'] = dataset.metainfo
    return string_meta(meta)


def export_metadata(meta: Mapping[str, str]) -> dict[str, str]:
    """The metadata of an exported backbone, from a run's checkpoint ``meta`` (string form): the one writer.

    Backbone options (:func:`backbone_metadata`), ``source``, the run and its position
    (``'<experiment_name> epoch <e> iter <i>'``), and ``pretrained_cfg``: the inputs the backbone was trained on
    (:func:`input_cfg`, JSON), so that a fine-tune starting from the file normalises as its training did
    (:mod:`mixskd_mm.weights.starts`).
    """
    out = backbone_metadata(meta)
    run = meta.get('experiment_name')
    if run:
        out['source'] = f"{run} epoch {meta.get('epoch', '?')} iter {meta.get('iter', '?')}"
    cfg = run_config(meta)
    record = backbone_record(cfg)
    if record is not None:
        out['pretrained_cfg'] = json.dumps(input_cfg(cfg, record.in_chans))
    return out


def pipeline_sizes(cfg) -> dict[str, object]:
    """Input size, crop fraction and interpolation of a training config's data pipelines (timm's terms)."""
    def steps(split: str) -> dict[str, Mapping]:
        pipeline = ((cfg.get(f'{split}_dataloader') or {}).get('dataset') or {}).get('pipeline') or []
        return {str(t.get('type')): t for t in pipeline if isinstance(t, Mapping)}

    def side(value) -> int | None:
        value = value[0] if isinstance(value, (list, tuple)) else value
        return int(value) if isinstance(value, (int, float)) else None

    val, train = steps('val'), steps('train')
    out: dict[str, object] = {}
    for found in (val.get('CenterCrop'), train.get('RandomResizedCrop'), train.get('RandomCrop')):
        if found and side(found.get('size')):
            out['size'] = side(found['size'])
            break
    resize, crop = side(val.get('Resize', {}).get('size')), side(val.get('CenterCrop', {}).get('size'))
    out['crop_pct'] = round(crop / resize, 4) if resize and crop else 1.0
    interpolation = (val.get('Resize') or train.get('RandomResizedCrop') or {}).get('interpolation', 'bilinear')
    out['interpolation'] = str(getattr(interpolation, 'value', interpolation)).lower()
    return out


def input_cfg(cfg, in_chans: int) -> dict[str, object]:
    """What a training config fed its network, in timm's ``pretrained_cfg`` terms: ``mean`` and ``std`` on the 0-1
    scale (no normalisation: the network saw 0-255 values, i.e. mean 0 and std 1/255), ``input_size`` (``None``
    where the pipelines name no size), ``interpolation`` and ``crop_pct``."""
    pre = (cfg.get('model') or {}).get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    mean, std = pre.get('mean'), pre.get('std')
    if mean is None or std is None:
        mean, std = [0.0] * in_chans, [1 / 255] * in_chans
    else:
        mean, std = [round(m / 255, 6) for m in mean], [round(s / 255, 6) for s in std]
    sizes = pipeline_sizes(cfg)
    size = sizes.get('size')
    return dict(input_size=[in_chans, size, size] if size else None, interpolation=sizes['interpolation'],
                crop_pct=sizes['crop_pct'], mean=mean, std=std)


def save_backbone(tensors: Mapping[str, torch.Tensor], out: str, metadata: dict[str, str] | None = None,
                  file_format: str = 'mixskd_mm.backbone') -> str:
    """Write backbone tensors atomically: ``.safetensors`` (timm keys + string metadata) or ``.pth``.

    A ``.pth`` holds an mmengine-style ``{'state_dict': {'backbone.<timm key>': ...}, 'meta': {...}}``,
    loadable with ``init_cfg=dict(type='Pretrained', checkpoint=FILE)`` at detector level. ``file_format`` is the
    metadata's ``format`` entry (a timm folder's ``model.safetensors`` says ``'pt'``, as Hub files do).
    """
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = dict(metadata or {}, format=file_format)
    if out.endswith('.safetensors'):
        from safetensors.torch import save
        atomic_write_bytes(save(tensors, metadata=meta), out)
    elif out.endswith(('.pth', '.pt')):
        payload = dict(state_dict={BACKBONE_PREFIX + k: v for k, v in tensors.items()}, meta=meta)
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write_bytes(buffer.getvalue(), out)
    else:
        raise ValueError(f'output must end in .safetensors or .pth, got {out!r}')
    return out


def export_backbone(checkpoint: str, out: str, prefix: str = BACKBONE_PREFIX) -> tuple[int, dict[str, str]]:
    """Export the backbone of ``checkpoint`` to the file ``out``; returns (tensor count, metadata)."""
    state, meta = read_checkpoint(checkpoint)
    tensors = backbone_tensors(state, prefix)
    metadata = export_metadata(meta)
    save_backbone(tensors, out, metadata)
    return len(tensors), metadata
