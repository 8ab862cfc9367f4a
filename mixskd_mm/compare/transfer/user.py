"""A leaf over a user's own MMDetection 3.x / MMSegmentation 1.x config (usually a ResNet model on the user's
dataset): :func:`write_user_leaf` makes the changes README.md's section "Use a MixSKD backbone in your own mmdet/mmseg
config" lists, automatically: the backbone becomes ``mixskd_mm.TimmStageBackbone`` loading the file, the ResNet's
``out_indices`` / ``frozen_stages`` are renumbered to timm's, ``norm_cfg`` / ``norm_eval`` carry over, a dilated
ResNet (``strides`` / ``dilations``) becomes ``output_stride`` 8 or 16, mmseg's ``model.pretrained`` is cleared, and
the neck's (or, without a neck, the heads') ``in_channels`` become the backbone's channels.
"""
from __future__ import annotations

import math
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

from . import common
from .leaf import Leaf, inline, write_leaf

#: mm backbone types whose ``out_indices`` number the stages C2..C5 as 0..3, and the default ``strides`` of the
#: ResNet-like ones (a smaller product means dilated stages: ``output_stride`` 8 or 16)
MM_STAGE_NUMBERING = ('ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNeXt', 'Res2Net', 'ResNeSt', 'RegNet',
                      'SwinTransformer', 'ConvNeXt', 'PyramidVisionTransformer', 'PyramidVisionTransformerV2')
DEFAULT_STRIDES = dict(ResNet=(1, 2, 2, 2), ResNetV1c=(1, 2, 2, 2), ResNetV1d=(1, 2, 2, 2), ResNeXt=(1, 2, 2, 2),
                       Res2Net=(1, 2, 2, 2), ResNeSt=(1, 2, 2, 2), RegNet=(2, 2, 2, 2))
#: norm types TimmStageBackbone takes
NORM_TYPES = ('BN', 'SyncBN', 'FrozenBN')


def write_user_leaf(config: str, task: str, backbone_file: str, out_path: str,
                    cfg_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a leaf over a user's mmdet / mmseg config that fine-tunes it from an exported backbone file.

    Everything of the user's config stays (dataset, schedule, heads, losses) except what the README's paste-in lines
    change, done here from the config itself: the backbone is replaced (``_delete_=True``) by
    ``mixskd_mm.TimmStageBackbone`` with the file's ``model_name`` (and ``cifar_stem``), ``init_cfg`` loading the
    file; the original backbone's ``out_indices`` and ``frozen_stages`` are renumbered from mm's (C2..C5 = 0..3) to
    timm's (the ResNet stem is stage 0, so C2..C5 = 1..4); ``norm_cfg``, ``norm_eval`` and ``with_cp`` carry over;
    a dilated ResNet (``strides`` / ``dilations``, as in mmseg's ``-d8`` models) gets ``output_stride`` 8 or 16;
    mmseg's ``model.pretrained`` becomes ``None``; the neck's ``in_channels`` (or, without a neck, each mmseg head's
    by its ``in_index``) become the backbone's channels. With a CIFAR stem the detector's anchor and RoI strides are
    divided by 4, the backbone's.

    Args:
        config: The user's config file (``mmdet::`` / ``mmseg::`` bases resolve).
        task: ``'det'`` or ``'seg'``.
        backbone_file: An exported backbone (``tools/export_backbone.py``) with ``model_name`` metadata.
        out_path: Where the leaf is written (atomically).
        cfg_options: Extra overrides in ``--cfg-options`` form (``{'train_dataloader.batch_size': 2}``), applied to
            the user's config before it is converted and written into the leaf.

    Returns:
        dict with ``config`` (``out_path``), ``metric`` (the key the val evaluator logs, e.g. ``'coco/bbox_mAP'``,
        ``'pascal_voc/mAP'``, ``'mIoU'``) and ``changes`` (what was changed, one sentence each).

    Raises:
        FileNotFoundError: the config or the backbone file does not exist.
        ValueError: the config cannot be converted automatically (no ``model.backbone``, a backbone type whose
            stage numbering is unknown, a neck whose ``in_channels`` is not a list, ...); the message says what to
            change by hand.
    """
    task = common.task_of(task).key
    config, leaf, changes = _user_config(config, cfg_options)
    model, old, old_type = _user_backbone(leaf.work, task, config)
    info = common.read_backbone_file(backbone_file)
    out_indices, frozen = _timm_stages(old, old_type, info['model_name'], config, changes)
    output_stride = _output_stride(old, old_type, config)
    built = _replace_backbone(leaf, old, old_type, info, (out_indices, frozen, output_stride), changes,
                              at=len(cfg_options or {}))
    if task == 'seg' or 'pretrained' in model:
        if model.get('pretrained') is not None:
            changes.append(f'model.pretrained: {model["pretrained"]!r} -> None (mmseg would hand it to the backbone)')
        leaf.set('model.pretrained', None)
    changes += _set_input_channels(leaf, model, task, list(built.out_channels), config)
    if info['cifar_stem'] and task == 'det':
        changes += common.divide_strides(leaf, 'model', model, 4)

    metric = common.metric_key(leaf.work)
    write_leaf(out_path, leaf, config, f'write_user_leaf({osp.basename(config)!r}, {task!r})', info['path'], changes)
    return dict(config=out_path, metric=metric, changes=changes)


def _user_config(config: str, cfg_options: dict[str, Any] | None) -> tuple[str, Leaf, list[str]]:
    """The config's absolute path, a leaf over it with ``cfg_options`` applied, and those changes."""
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config!r}')
    from mmengine.config import Config
    config = osp.abspath(config)
    base = Config.fromfile(config).to_dict()
    leaf = Leaf(base)
    changes: list[str] = []
    for key, value in (cfg_options or {}).items():
        leaf.set(key, value)
        changes.append(f'{key} = {inline(value)} (cfg_options)')
    return config, leaf, changes


def _user_backbone(work: Mapping, task: str, config: str) -> tuple[Mapping, Mapping, str]:
    """The config's ``model``, its ``model.backbone`` and the backbone's type; refuses a config of the other task."""
    scope = work.get('default_scope')
    if scope is not None and scope != common.TASKS[task].scope:
        raise ValueError(f'{config} is an {scope} config (default_scope={scope!r}), not a {task!r} one '
                         f'({common.TASKS[task].scope}); pass task={"det" if scope == "mmdet" else "seg"!r}')
    model = work.get('model')
    if not isinstance(model, Mapping) or not isinstance(model.get('backbone'), Mapping):
        raise ValueError(f'{config} has no model.backbone dict to replace, so there is nothing to put the MixSKD '
                         f'backbone into. {common.MANUAL_FIX}')
    old = model['backbone']
    return model, old, str(old.get('type', '')).split('.')[-1]


def _timm_stages(old: Mapping, old_type: str, name: str, config: str,
                 changes: list[str]) -> tuple[tuple[int, ...], int | None]:
    """``out_indices`` and ``frozen_stages`` of the old backbone in timm's numbering (mm's is C2..C5 = 0..3)."""
    if old_type == 'TimmStageBackbone':
        out_indices = tuple(old.get('out_indices', (1, 2, 3, 4)))
        frozen = old.get('frozen_stages')
    elif old_type in MM_STAGE_NUMBERING:
        reductions = _stage_reductions(name)
        mm_indices = tuple(old.get('out_indices', (0, 1, 2, 3)))
        out_indices = tuple(_timm_index(reductions, 4 * 2 ** int(i), name) for i in mm_indices)
        frozen = _timm_frozen(old.get('frozen_stages'), reductions, name)
        changes.append(f'model.backbone.out_indices: {tuple(mm_indices)} (mm numbering) -> {out_indices} (timm '
                       f'numbering, same stages)')
    else:
        raise ValueError(f'{config}: model.backbone is a {old.get("type")!r}; how its out_indices number the '
                         f'stages is not known here (known: {", ".join(MM_STAGE_NUMBERING)}). {common.MANUAL_FIX}')
    return out_indices, frozen


def _replace_backbone(leaf: Leaf, old: Mapping, old_type: str, info: Mapping, stages: tuple, changes: list[str],
                      at: int):
    """Set ``model.backbone`` to the TimmStageBackbone loading the file, checked by loading it; its summary goes to
    ``changes[at]``. ``stages`` is ``(out_indices, frozen_stages, output_stride)``; returns the built backbone."""
    out_indices, frozen, output_stride = stages
    name = info['model_name']
    backbone: dict[str, Any] = dict(_delete_=True, type='mixskd_mm.TimmStageBackbone', model_name=name,
                                    out_indices=out_indices)
    backbone.update(common.backbone_extras(info))
    if output_stride is not None:
        backbone['output_stride'] = output_stride
        changes.append(f'model.backbone.output_stride = {output_stride} (the {old_type} was dilated: strides '
                       f'{tuple(old.get("strides", ()))}, dilations {tuple(old.get("dilations", ()))})')
    if frozen is not None:
        backbone['frozen_stages'] = frozen
        changes.append(f'model.backbone.frozen_stages = {frozen} (timm numbering; was {old.get("frozen_stages")})')
    _carry_over(old, backbone, changes)
    backbone['init_cfg'] = dict(type='Pretrained', checkpoint=info['path'])
    built = common.checked_backbone(info, out_indices, output_stride)
    leaf.set('model.backbone', backbone)
    changes.insert(at, f'model.backbone: {old.get("type")} -> mixskd_mm.TimmStageBackbone('
                   f'{name!r}, out_indices={out_indices}, out_channels={built.out_channels}) loading {info["path"]}'
                   + (' (cifar_stem=True, as pretrained)' if info['cifar_stem'] else ''))
    return built


def _carry_over(old: Mapping, backbone: dict[str, Any], changes: list[str]) -> None:
    """``norm_eval``, a ``norm_cfg`` TimmStageBackbone takes, and ``with_cp=True`` of the old backbone."""
    if 'norm_eval' in old:
        backbone['norm_eval'] = bool(old['norm_eval'])
        changes.append(f'model.backbone.norm_eval = {bool(old["norm_eval"])} (carried over)')
    norm = old.get('norm_cfg')
    if isinstance(norm, Mapping) and str(norm.get('type', 'BN')).split('.')[-1] in NORM_TYPES:
        backbone['norm_cfg'] = dict(norm)
        changes.append(f'model.backbone.norm_cfg = {inline(dict(norm))} (carried over)')
    elif norm is not None:
        changes.append(f'model.backbone.norm_cfg {inline(norm)} not carried over: TimmStageBackbone takes '
                       f'{"/".join(NORM_TYPES)}; the timm model keeps its BatchNorm')
    if old.get('with_cp') is True:
        backbone['with_cp'] = True
        changes.append('model.backbone.with_cp = True (carried over)')


def _stage_reductions(model_name: str) -> list[int]:
    """The nominal reduction of each timm feature stage (ResNet: ``[2, 4, 8, 16, 32]``)."""
    from mixskd_mm.models.backbones import create_timm_model
    info: Any = create_timm_model(model_name).feature_info  # timm's FeatureInfo (torch types it Tensor | Module)
    return [int(f['reduction']) for f in info]


def _timm_index(reductions: Sequence[int], stride: int, model_name: str) -> int:
    """The deepest timm stage at ``stride`` (C2 = 4, C3 = 8 ...)."""
    found = [i for i, r in enumerate(reductions) if r == stride]
    if not found:
        raise ValueError(f'timm model {model_name!r} has no feature stage at stride {stride} (its stages reduce by '
                         f'{list(reductions)}). {common.MANUAL_FIX}')
    return found[-1]


def _timm_frozen(frozen: int | None, reductions: Sequence[int], model_name: str) -> int | None:
    """mm's ``frozen_stages`` (1 = stem + C2 frozen, 0 = stem only) in timm's numbering."""
    if frozen is None:
        return None
    frozen = int(frozen)
    if frozen < 0:
        return -1
    if frozen == 0:  # the stem alone: timm's stage 0 where timm lists the stem as a stage
        return 0 if reductions[0] < 4 else -1
    return _timm_index(reductions, 4 * 2 ** (frozen - 1), model_name)


def _output_stride(old: Mapping, old_type: str, config: str) -> int | None:
    """8 or 16 for a ResNet whose ``strides`` leave it dilated, else ``None``."""
    if old_type not in DEFAULT_STRIDES or 'strides' not in old:
        return None
    num = int(old.get('num_stages', 4))
    default, strides = DEFAULT_STRIDES[old_type][:num], tuple(old['strides'])[:num]
    stride = 32 * math.prod(strides) // math.prod(default) if num == 4 else None
    if stride == 32:
        return None
    if stride in (8, 16):
        return stride
    raise ValueError(f'{config}: model.backbone strides {tuple(old["strides"])} (num_stages={num}) give an output '
                     f'stride of {stride}; TimmStageBackbone dilates to 8 or 16 only. {common.MANUAL_FIX}')


def _set_input_channels(leaf: Leaf, model: Mapping, task: str, channels: list[int], config: str) -> list[str]:
    """Point the neck (or, without one, the mmseg heads) at the backbone's channels; returns the changes."""
    neck = model.get('neck')
    if neck is not None:
        key = 'model.neck'
        if isinstance(neck, (list, tuple)):  # a sequence of necks: the first one reads the backbone
            neck, key = neck[0], 'model.neck.0'
        old = neck.get('in_channels') if isinstance(neck, Mapping) else None
        if not isinstance(old, (list, tuple)):
            raise ValueError(f'{config}: the neck ({neck.get("type") if isinstance(neck, Mapping) else neck!r}) has '
                             f'in_channels={old!r}, not a list of the backbone stages\' channels, so it cannot be '
                             f'pointed at the new backbone {channels}. {common.MANUAL_FIX}')
        if len(old) != len(channels):
            raise ValueError(f'{config}: the neck reads {len(old)} stages (in_channels={list(old)}) but the backbone '
                             f'returns {len(channels)} ({channels}). {common.MANUAL_FIX}')
        leaf.set(f'{key}.in_channels', list(channels))
        return [f'{key}.in_channels: {list(old)} -> {channels}']
    heads = [h for h in ('decode_head', 'auxiliary_head') if model.get(h)]
    if task == 'det' or not heads:
        raise ValueError(f'{config}: the model has no neck, so the layers that read the backbone and their '
                         f'in_channels are not known here. {common.MANUAL_FIX}')
    changes = []
    for head_key in heads:
        head = model[head_key]
        items = [(f'model.{head_key}.{i}', h) for i, h in enumerate(head)] if isinstance(head, (list, tuple)) else \
            [(f'model.{head_key}', head)]
        for key, part in items:
            index = part.get('in_index', -1)
            try:
                new = [channels[i] for i in index] if isinstance(index, (list, tuple)) else channels[index]
            except IndexError:
                raise ValueError(f'{config}: {key}.in_index={index!r} is out of range for the backbone\'s '
                                 f'{len(channels)} outputs {channels}. {common.MANUAL_FIX}') from None
            changes.append(f'{key}.in_channels: {part.get("in_channels")!r} -> {new!r} (in_index {index!r})')
            leaf.set(f'{key}.in_channels', new)
    return changes
