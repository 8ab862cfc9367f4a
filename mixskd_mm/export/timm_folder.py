"""A trained backbone as a timm model folder: ``model.safetensors`` + ``config.json`` + ``README.md`` (model card).

The folder is what ``timm.create_model('local-dir:PATH', pretrained=True)`` and, once uploaded,
``timm.create_model('hf-hub:org/name', pretrained=True)`` load: timm key names, timm's config schema
(``architecture``, ``num_classes``, ``num_features``, ``label_names``, ``model_args``, ``pretrained_cfg``).
It also loads into ``TimmStageBackbone(pretrained='local-dir:PATH')``.

A backbone plain timm cannot build (the CIFAR stem, a stem without activation, stages or head units that the
backbone dropped) is still exported. Its ``config.json`` then says so (``mixskd_mm.timm_compatible: false`` and
the reasons) and makes plain timm fail loudly: the stem options go into ``model_args``, which timm's constructors
refuse, and missing tensors fail timm's strict load. It never silently builds a different network.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import timm
import torch

from mixskd_mm.models.backbones import timm_args
from mixskd_mm.utils.atomic_io import atomic_write_bytes
from mixskd_mm.weights.files import StateDict
from mixskd_mm.weights.record import BackboneRecord

from .backbone_file import (
    BACKBONE_PREFIX,
    backbone_record,
    backbone_tensors,
    export_metadata,
    input_cfg,
    run_config,
    save_backbone,
)
from .model_card import model_card, run_metrics

#: the classifier of mixskd_mm's classifiers (``ImageClassifier`` / ``MixSKD``): ``head.fc``
HEAD_PREFIX = 'head.fc.'
STEM_REASONS = {'cifar_stem': 'the CIFAR stem (3x3 stride-1 conv1, no max-pool) is not a timm option',
                'stem_act': 'the stem has no activation after its BatchNorm (stem_act=False), not a timm option'}


def _pretrained_cfg(model: torch.nn.Module) -> dict[str, Any]:
    """timm's ``pretrained_cfg`` of a model it built."""
    return model.pretrained_cfg  # type: ignore[return-value]  # torch types a module's attributes as Tensor | Module


def timm_model_args(backbone_cfg: Mapping) -> dict[str, Any]:
    """Non-default timm constructor arguments of a ``TimmStageBackbone`` config (``in_chans``, ``output_stride``...),
    as the backbone itself passes them (:func:`~mixskd_mm.models.backbones.timm_args`); tuples as JSON lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in timm_args(backbone_cfg).items()}


def _key_reasons(ours: StateDict, timm_state: Mapping[str, torch.Tensor]) -> list[str]:
    missing = [k for k in timm_state if k not in ours]
    extra = [k for k in ours if k not in timm_state]
    shapes = [k for k in ours if k in timm_state and tuple(ours[k].shape) != tuple(timm_state[k].shape)]
    reasons = []
    if missing:
        reasons.append(f'the backbone has no tensors for {len(missing)} of timm\'s (e.g. {missing[:3]}): '
                       f'units after the last out_indices stage were dropped in training, or its norm layers differ')
    if extra:
        reasons.append(f'{len(extra)} tensors are not in timm\'s model (e.g. {extra[:3]})')
    if shapes:
        reasons.append(f'{len(shapes)} tensors differ in shape from timm\'s (e.g. {shapes[:3]})')
    return reasons


def _classifier(state: Mapping[str, torch.Tensor], prefix: str, keep: bool) -> StateDict | None:
    if not keep or prefix != BACKBONE_PREFIX:
        return None
    head = {k[len(HEAD_PREFIX):]: v for k, v in state.items() if k.startswith(HEAD_PREFIX)}
    return head if set(head) == {'weight', 'bias'} else None


def timm_tensors(state: Mapping[str, torch.Tensor], backbone_cfg: Mapping, prefix: str = BACKBONE_PREFIX,
                 keep_classifier: bool = True) -> tuple[StateDict, torch.nn.Module, list[str]]:
    """The checkpoint's backbone (and trained classifier) under timm's keys, timm's model, and why timm can't build it.

    Args:
        state: the checkpoint's state dict.
        backbone_cfg: the training config's ``model.backbone``.
        prefix: key prefix of the backbone in ``state``.
        keep_classifier: keep the trained ``head.fc`` (as timm's classifier); otherwise ``num_classes=0``.

    Returns:
        ``(tensors, plain_timm_model, reasons)``: ``plain_timm_model`` is built by timm from the folder's config (random
        weights; its ``num_classes`` is the export's); ``reasons`` is empty when plain timm builds the same network.
    """
    tensors = backbone_tensors(state, prefix)
    head = _classifier(state, prefix, keep_classifier)
    num_classes = 0 if head is None else int(head['weight'].shape[0])
    model = timm.create_model(backbone_cfg['model_name'], pretrained=False, num_classes=num_classes,
                              **timm_model_args(backbone_cfg))
    if head is not None:
        classifier = _pretrained_cfg(model).get('classifier') or 'fc'
        tensors.update({f'{classifier}.{k}': v for k, v in head.items()})
    reasons = [STEM_REASONS[k] for k in BackboneRecord.from_args(backbone_cfg).stem_options()]
    reasons += _key_reasons(tensors, model.state_dict())
    return tensors, model, reasons


def pretrained_cfg(cfg, model: torch.nn.Module, in_chans: int) -> dict[str, object]:
    """timm's ``pretrained_cfg`` for the folder: normalisation and input size of the training config
    (:func:`~mixskd_mm.export.backbone_file.input_cfg`, the size falling back to the model's own)."""
    inputs = input_cfg(cfg, in_chans)
    own = _pretrained_cfg(model)
    size = inputs['input_size'] or [in_chans, *own.get('input_size', (3, 224, 224))[1:]]
    return dict(input_size=size, fixed_input_size=False, interpolation=inputs['interpolation'],
                crop_pct=inputs['crop_pct'], crop_mode='center', mean=inputs['mean'], std=inputs['std'],
                num_classes=model.num_classes,
                first_conv=own.get('first_conv'), classifier=own.get('classifier'), custom_load=False)


def folder_config(cfg, meta: Mapping[str, str], metadata: Mapping[str, str], model: torch.nn.Module,
                  reasons: list[str]) -> dict[str, object]:
    """``config.json`` of the folder: timm's schema, plus a ``mixskd_mm`` section (the export ``metadata``, timm
    compatibility). ``cfg`` is the run's training config, ``meta`` its checkpoint ``meta`` in string form."""
    bb, record = cfg.model.backbone, backbone_record(cfg)
    if record is None:
        raise ValueError('the training config records no model.backbone.model_name, so the folder cannot name its '
                         'architecture; export from a checkpoint written by tools/train.py')
    args = dict(timm_model_args(bb), **record.stem_options())
    config: dict[str, object] = dict(architecture=record.model_name, num_classes=model.num_classes,
                                     num_features=model.num_features, global_pool='avg')
    classes = json.loads(meta.get('dataset_meta', '{}')).get('classes')
    if model.num_classes and classes and len(classes) == model.num_classes:
        config['label_names'] = list(classes)
    if args:
        config['model_args'] = args
    config['pretrained_cfg'] = pretrained_cfg(cfg, model, record.in_chans)
    load = ('TimmStageBackbone(model_name={!r}, pretrained="local-dir:PATH"{})'.format(
        record.model_name, ''.join(f', {k}={v!r}' for k, v in record.stem_options().items())))
    config['mixskd_mm'] = dict(metadata, timm_compatible=not reasons, not_timm_compatible_because=reasons,
                               load_with=load)
    return config


def write_timm_folder(state: Mapping[str, torch.Tensor], meta: Mapping[str, str], out_dir: str,
                      work_dir: str | None = None, prefix: str = BACKBONE_PREFIX,
                      keep_classifier: bool = True) -> dict[str, Any]:
    """Write ``model.safetensors``, ``config.json`` and ``README.md`` into ``out_dir`` (each file atomically).

    Args:
        state: the checkpoint's (or the live model's) state dict.
        meta: the run's checkpoint ``meta`` in string form (``read_checkpoint`` / ``runner_meta``); needs ``cfg``.
        out_dir: the folder to write (created; files of an earlier export there are replaced).
        work_dir: the run's work dir, whose logs give the model card's metrics; ``None``: no metrics.
        prefix: key prefix of the backbone in ``state``.
        keep_classifier: keep the trained classifier (``num_classes`` > 0, classes listed) or drop it.

    Returns:
        the ``config.json`` written, as a dict.
    """
    cfg = run_config(meta)
    if backbone_record(cfg) is None:
        raise ValueError('the checkpoint records no training config with model.backbone.model_name (meta["cfg"]); a '
                         'timm folder needs it. Export from a checkpoint written by tools/train.py, or export a '
                         'single file instead (OUT.safetensors).')
    tensors, model, reasons = timm_tensors(state, cfg.model.backbone, prefix, keep_classifier)
    metadata = export_metadata(meta)
    config = folder_config(cfg, meta, metadata, model, reasons)
    metrics = run_metrics(work_dir, meta, cfg) if work_dir else {}
    save_backbone(tensors, os.path.join(out_dir, 'model.safetensors'), metadata, file_format='pt')
    atomic_write_bytes((json.dumps(config, indent=2) + '\n').encode(), os.path.join(out_dir, 'config.json'))
    card = model_card(cfg, meta, config, metrics)
    atomic_write_bytes(card.encode(), os.path.join(out_dir, 'README.md'))
    return config
