"""Transfer leaves for ``tools/compare.py``: one mmengine config per exported backbone file that fine-tunes a detector
or a segmentor from it, trained with ``python tools/train.py LEAF --work-dir W``.

Two writers, both deterministic (the same inputs give the same bytes) and atomic (:mod:`mixskd_mm.utils.atomic_io`):

- :func:`write_user_leaf`: over a user's own MMDetection 3.x / MMSegmentation 1.x config (usually a ResNet
  model on the user's dataset), the changes README.md's section "Use a MixSKD backbone in your own mmdet/mmseg
  config" lists, made automatically: the backbone becomes ``mixskd_mm.TimmStageBackbone`` loading the file, the
  ResNet's ``out_indices`` / ``frozen_stages`` are renumbered to timm's, ``norm_cfg`` / ``norm_eval`` carry over,
  a dilated ResNet (``strides`` / ``dilations``) becomes ``output_stride`` 8 or 16, mmseg's ``model.pretrained``
  is cleared, and the neck's (or, without a neck, the heads') ``in_channels`` become the backbone's channels;
- :func:`write_folder_leaf`: our transfer recipes (``configs/demo/retinanet_...py``, ``configs/demo/fpn_...py``)
  on a data folder: a COCO-format folder for detection, an mmseg-layout folder for segmentation.

Class names, data roots and annotation files are written into the leaf itself, never passed as ``--cfg-options``:
mmengine's parser turns a class called ``'0'`` into ``0`` and drops the spaces of ``'Ankle boot'``.

Example:
    >>> info = write_user_leaf('my_retinanet.py', 'det', 'work_dirs/mixskd/backbone.safetensors',
    ...                        'work_dirs/compare/det_mixskd.py')  # doctest: +SKIP
    >>> info['metric'], info['changes'][0]  # doctest: +SKIP
    ('coco/bbox_mAP', 'model.backbone: ResNet -> mixskd_mm.TimmStageBackbone(...)')
"""
from __future__ import annotations

import copy
import json
import keyword
import math
import os
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from mixskd_mm.utils.atomic_io import atomic_write_bytes

#: what a task is called here, and in tools/demo.py
TASKS = {'det': 'det', 'detection': 'det', 'seg': 'seg', 'segmentation': 'seg'}
#: the default_scope of each task's configs
SCOPES = {'det': 'mmdet', 'seg': 'mmseg'}
#: our transfer recipes, relative to the repository root
RECIPES = {'det': 'configs/demo/retinanet_test-resnet_fpn_1xb8-300i_composed-fashion.py',
           'seg': 'configs/demo/fpn_test-resnet_1xb8-300i_composed-fashion.py'}
#: where a user is sent when a config cannot be converted automatically
MANUAL_FIX = ('Make the change by hand as README.md, section "Use a MixSKD backbone in your own mmdet/mmseg config", '
              'shows (paste-in lines for an mmdet FPN detector and an mmseg ResNet-D8 model).')
#: mm backbone types whose ``out_indices`` number the stages C2..C5 as 0..3, and the default ``strides`` of the
#: ResNet-like ones (a smaller product means dilated stages: ``output_stride`` 8 or 16)
MM_STAGE_NUMBERING = ('ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNeXt', 'Res2Net', 'ResNeSt', 'RegNet',
                      'SwinTransformer', 'ConvNeXt', 'PyramidVisionTransformer', 'PyramidVisionTransformerV2')
DEFAULT_STRIDES = dict(ResNet=(1, 2, 2, 2), ResNetV1c=(1, 2, 2, 2), ResNetV1d=(1, 2, 2, 2), ResNeXt=(1, 2, 2, 2),
                       Res2Net=(1, 2, 2, 2), ResNeSt=(1, 2, 2, 2), RegNet=(2, 2, 2, 2))
#: norm types TimmStageBackbone takes
NORM_TYPES = ('BN', 'SyncBN', 'FrozenBN')
#: label-map colours for the segmentation leaves (index 0, background in the composed layout, is black)
PALETTE = ([0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
           [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255],
           [170, 110, 40], [255, 250, 200], [128, 0, 0], [170, 255, 195], [128, 128, 0], [255, 215, 180],
           [0, 0, 128], [128, 128, 128])
#: the folder layouts write_folder_leaf reads: name -> (image folder, annotations) per split, relative to the folder
DET_LAYOUTS = {
    'composed': dict(ann='annotations/instances_{split}.json', img='images/{split}/'),
    'coco2017': dict(ann='annotations/instances_{split}2017.json', img='{split}2017/'),
}
SEG_LAYOUTS = {
    'mmseg': dict(img='img_dir/{split}', seg='ann_dir/{split}'),
    'composed': dict(img='images/{split}', seg='labels/{split}'),
}
LINE = 120
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


# -- schedules ------------------------------------------------------------------------------------------------------
def schedule_overrides(task: str, iters: int) -> Dict[str, int]:
    """The overrides that give one of our transfer recipes ``iters`` iterations, warm-up and decay rescaled.

    The warm-up is a sixth of the run, at least 1 and at most the recipes' 50 iterations; the decay runs from its
    end to ``iters``; one validation and one checkpoint at the end.

    Args:
        task: ``'det'`` / ``'detection'`` or ``'seg'`` / ``'segmentation'``.
        iters: Training iterations.

    Returns:
        Dotted config keys -> values (``param_scheduler.0.end`` style, as ``--cfg-options`` takes them).

    Raises:
        ValueError: an unknown task or fewer than 1 iteration.
    """
    task = _task(task)
    if int(iters) < 1:
        raise ValueError(f'iters must be at least 1, got {iters}')
    iters = int(iters)
    warmup = min(50, max(1, iters // 6))
    out = {'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters, 'default_hooks.checkpoint.interval': iters,
           'param_scheduler.0.end': warmup, 'param_scheduler.1.begin': warmup, 'param_scheduler.1.end': iters}
    if task == 'det':  # cosine decay; the segmentation recipe's poly decay has no T_max
        out['param_scheduler.1.T_max'] = max(1, iters - warmup)
    return out


def schedule_options(task: str, iters: int) -> List[str]:
    """:func:`schedule_overrides` as ``--cfg-options`` entries (``KEY=VALUE``), what tools/demo.py passes.

    Args:
        task: ``'det'`` / ``'detection'`` or ``'seg'`` / ``'segmentation'``.
        iters: Training iterations.

    Returns:
        ``['train_cfg.max_iters=300', ...]``.
    """
    return [f'{key}={value}' for key, value in schedule_overrides(task, iters).items()]


# -- the metric a config logs ---------------------------------------------------------------------------------------
def metric_key(cfg: Mapping) -> str:
    """The key under which the config's (first) ``val_evaluator`` logs its main number.

    Args:
        cfg: A config as a dict (``Config.fromfile(path).to_dict()``).

    Returns:
        e.g. ``'coco/bbox_mAP'`` (CocoMetric), ``'pascal_voc/mAP'`` (VOCMetric), ``'mIoU'`` (IoUMetric).

    Raises:
        ValueError: no val_evaluator, or one whose logged keys are not known here.
    """
    evaluator = cfg.get('val_evaluator')
    if isinstance(evaluator, (list, tuple)) and evaluator:
        evaluator = evaluator[0]
    if isinstance(evaluator, Mapping) and 'metrics' in evaluator and 'type' not in evaluator:
        evaluator = evaluator['metrics']
        evaluator = evaluator[0] if isinstance(evaluator, (list, tuple)) and evaluator else evaluator
    if not isinstance(evaluator, Mapping):
        raise ValueError(f'the config has no val_evaluator dict (got {evaluator!r}); the transfer needs one to score '
                         f'the fine-tuned model')
    kind = str(evaluator.get('type', '')).split('.')[-1]
    prefix = evaluator.get('prefix')

    def first(value, default):
        value = evaluator.get(value, default)
        return value[0] if isinstance(value, (list, tuple)) and value else value

    if kind in ('CocoMetric', 'LVISMetric'):
        metric = first('metric', 'bbox')
        if metric not in ('bbox', 'segm'):
            raise ValueError(f'{kind} with metric={metric!r}: only bbox / segm evaluations have a mean AP to compare')
        item = first('metric_items', None) or ('mAP' if kind == 'CocoMetric' else 'AP')
        key, default_prefix = f'{metric}_{item}', 'coco' if kind == 'CocoMetric' else 'lvis'
    elif kind in ('VOCMetric', 'OpenImagesMetric'):
        if first('metric', 'mAP') != 'mAP':
            raise ValueError(f'{kind} with metric={first("metric", "mAP")!r}: set metric="mAP" to compare mean AP')
        key, default_prefix = 'mAP', 'pascal_voc' if kind == 'VOCMetric' else 'openimages'
    elif kind == 'IoUMetric':
        key, default_prefix = first('iou_metrics', 'mIoU'), None
    else:
        raise ValueError(f'val_evaluator type {kind!r}: which key it logs is not known here (known: CocoMetric, '
                         f'LVISMetric, VOCMetric, OpenImagesMetric, IoUMetric)')
    prefix = prefix if prefix is not None else default_prefix
    return f'{prefix}/{key}' if prefix else key


# -- the backbone file ----------------------------------------------------------------------------------------------
def read_backbone_file(path: str) -> Dict[str, Any]:
    """The metadata of an exported backbone file (:mod:`mixskd_mm.export`), read with the project's own reader.

    Args:
        path: A ``.safetensors`` (or ``.pth``) file written by ``tools/export_backbone.py``.

    Returns:
        dict with ``path`` (absolute), ``model_name``, ``out_indices`` (a tuple, or ``None`` when not recorded),
        ``cifar_stem`` (bool), ``stem_act`` (bool, ``False`` only when recorded so), ``in_chans`` (int or
        ``None``), ``metadata`` (all string metadata) and ``state`` (the tensors).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file records no ``model_name``.
    """
    from mixskd_mm.utils.weights import read_weights
    path = osp.abspath(path)
    state, meta = read_weights(path)
    if not meta.get('model_name'):
        raise ValueError(f'{path} records no model_name in its metadata, so the timm architecture to build is '
                         f'unknown. Export the backbone with `python tools/export_backbone.py CHECKPOINT '
                         f'OUT.safetensors` from a checkpoint of a TimmStageBackbone model.')

    def parsed(key):
        return json.loads(meta[key]) if meta.get(key) not in (None, '') else None

    out_indices = parsed('out_indices')
    return dict(path=path, model_name=meta['model_name'],
                out_indices=tuple(int(i) for i in out_indices) if out_indices is not None else None,
                cifar_stem=bool(parsed('cifar_stem')), stem_act=parsed('stem_act') is not False,
                in_chans=parsed('in_chans'), metadata=dict(meta), state=state)


def _stage_reductions(model_name: str) -> List[int]:
    """The nominal reduction of each timm feature stage (ResNet: ``[2, 4, 8, 16, 32]``)."""
    from mixskd_mm.models.backbones import create_timm_model
    return [int(f['reduction']) for f in create_timm_model(model_name).feature_info]


def _timm_index(reductions: Sequence[int], stride: int, model_name: str) -> int:
    """The deepest timm stage at ``stride`` (C2 = 4, C3 = 8 ...)."""
    found = [i for i, r in enumerate(reductions) if r == stride]
    if not found:
        raise ValueError(f'timm model {model_name!r} has no feature stage at stride {stride} (its stages reduce by '
                         f'{list(reductions)}). {MANUAL_FIX}')
    return found[-1]


def _checked_backbone(info: Mapping, out_indices: Sequence[int], output_stride: Optional[int] = None):
    """Build the TimmStageBackbone the leaf describes and load the file into it (every tensor must match)."""
    from mixskd_mm.models.backbones import TimmStageBackbone
    from mixskd_mm.utils.weights import load_into
    kwargs = _backbone_extras(info)
    backbone = TimmStageBackbone(info['model_name'], out_indices=tuple(out_indices), output_stride=output_stride,
                                 **kwargs)
    load_into(backbone, info['state'], source=info['path'], expected_arch=info['model_name'],
              file_arch=info['model_name'])
    return backbone


def _backbone_extras(info: Mapping) -> Dict[str, Any]:
    """The TimmStageBackbone options the weights themselves need (a CIFAR stem, its activation, input channels)."""
    extras: Dict[str, Any] = {}
    if info['cifar_stem']:
        extras['cifar_stem'] = True
    if info.get('stem_act', True) is False:
        extras['stem_act'] = False
    if info['in_chans'] not in (None, 3):
        extras['in_chans'] = int(info['in_chans'])
    return extras


# -- A: a user's own config -----------------------------------------------------------------------------------------
def write_user_leaf(config: str, task: str, backbone_file: str, out_path: str,
                    cfg_options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
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
    task = _task(task)
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config!r}')
    from mmengine.config import Config
    config = osp.abspath(config)
    base = Config.fromfile(config).to_dict()
    leaf = _Leaf(base)
    changes: List[str] = []
    for key, value in (cfg_options or {}).items():
        leaf.set(key, value)
        changes.append(f'{key} = {_inline(value)} (cfg_options)')
    work = leaf.work

    scope = work.get('default_scope')
    if scope is not None and scope != SCOPES[task]:
        raise ValueError(f'{config} is an {scope} config (default_scope={scope!r}), not a {task!r} one '
                         f'({SCOPES[task]}); pass task={"det" if scope == "mmdet" else "seg"!r}')
    model = work.get('model')
    if not isinstance(model, Mapping) or not isinstance(model.get('backbone'), Mapping):
        raise ValueError(f'{config} has no model.backbone dict to replace, so there is nothing to put the MixSKD '
                         f'backbone into. {MANUAL_FIX}')
    old = model['backbone']
    old_type = str(old.get('type', '')).split('.')[-1]
    info = read_backbone_file(backbone_file)
    name = info['model_name']

    # out_indices, frozen_stages: mm numbering (C2..C5 = 0..3) -> timm's
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
                         f'stages is not known here (known: {", ".join(MM_STAGE_NUMBERING)}). {MANUAL_FIX}')
    output_stride = _output_stride(old, old_type, config)

    backbone: Dict[str, Any] = dict(_delete_=True, type='mixskd_mm.TimmStageBackbone', model_name=name,
                                    out_indices=out_indices)
    backbone.update(_backbone_extras(info))
    if output_stride is not None:
        backbone['output_stride'] = output_stride
        changes.append(f'model.backbone.output_stride = {output_stride} (the {old_type} was dilated: strides '
                       f'{tuple(old.get("strides", ()))}, dilations {tuple(old.get("dilations", ()))})')
    if frozen is not None:
        backbone['frozen_stages'] = frozen
        changes.append(f'model.backbone.frozen_stages = {frozen} (timm numbering; was {old.get("frozen_stages")})')
    if 'norm_eval' in old:
        backbone['norm_eval'] = bool(old['norm_eval'])
        changes.append(f'model.backbone.norm_eval = {bool(old["norm_eval"])} (carried over)')
    norm = old.get('norm_cfg')
    if isinstance(norm, Mapping) and str(norm.get('type', 'BN')).split('.')[-1] in NORM_TYPES:
        backbone['norm_cfg'] = dict(norm)
        changes.append(f'model.backbone.norm_cfg = {_inline(dict(norm))} (carried over)')
    elif norm is not None:
        changes.append(f'model.backbone.norm_cfg {_inline(norm)} not carried over: TimmStageBackbone takes '
                       f'{"/".join(NORM_TYPES)}; the timm model keeps its BatchNorm')
    if old.get('with_cp') is True:
        backbone['with_cp'] = True
        changes.append('model.backbone.with_cp = True (carried over)')
    backbone['init_cfg'] = dict(type='Pretrained', checkpoint=info['path'])
    built = _checked_backbone(info, out_indices, output_stride)
    leaf.set('model.backbone', backbone)
    changes.insert(len(cfg_options or {}), f'model.backbone: {old.get("type")} -> mixskd_mm.TimmStageBackbone('
                   f'{name!r}, out_indices={out_indices}, out_channels={built.out_channels}) loading {info["path"]}'
                   + (' (cifar_stem=True, as pretrained)' if info['cifar_stem'] else ''))

    if task == 'seg' or 'pretrained' in model:
        if model.get('pretrained') is not None:
            changes.append(f'model.pretrained: {model["pretrained"]!r} -> None (mmseg would hand it to the backbone)')
        leaf.set('model.pretrained', None)
    changes += _set_input_channels(leaf, model, task, list(built.out_channels), config)
    if info['cifar_stem'] and task == 'det':
        changes += _divide_strides(leaf, 'model', model, 4)

    metric = metric_key(leaf.work)
    _write(out_path, leaf, config, f'write_user_leaf({osp.basename(config)!r}, {task!r})', info['path'], changes)
    return dict(config=out_path, metric=metric, changes=changes)


def _timm_frozen(frozen: Optional[int], reductions: Sequence[int], model_name: str) -> Optional[int]:
    """mm's ``frozen_stages`` (1 = stem + C2 frozen, 0 = stem only) in timm's numbering."""
    if frozen is None:
        return None
    frozen = int(frozen)
    if frozen < 0:
        return -1
    if frozen == 0:  # the stem alone: timm's stage 0 where timm lists the stem as a stage
        return 0 if reductions[0] < 4 else -1
    return _timm_index(reductions, 4 * 2 ** (frozen - 1), model_name)


def _output_stride(old: Mapping, old_type: str, config: str) -> Optional[int]:
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
                     f'stride of {stride}; TimmStageBackbone dilates to 8 or 16 only. {MANUAL_FIX}')


def _set_input_channels(leaf: '_Leaf', model: Mapping, task: str, channels: List[int], config: str) -> List[str]:
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
                             f'pointed at the new backbone {channels}. {MANUAL_FIX}')
        if len(old) != len(channels):
            raise ValueError(f'{config}: the neck reads {len(old)} stages (in_channels={list(old)}) but the backbone '
                             f'returns {len(channels)} ({channels}). {MANUAL_FIX}')
        leaf.set(f'{key}.in_channels', list(channels))
        return [f'{key}.in_channels: {list(old)} -> {channels}']
    heads = [h for h in ('decode_head', 'auxiliary_head') if model.get(h)]
    if task == 'det' or not heads:
        raise ValueError(f'{config}: the model has no neck, so the layers that read the backbone and their '
                         f'in_channels are not known here. {MANUAL_FIX}')
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
                                 f'{len(channels)} outputs {channels}. {MANUAL_FIX}') from None
            changes.append(f'{key}.in_channels: {part.get("in_channels")!r} -> {new!r} (in_index {index!r})')
            leaf.set(f'{key}.in_channels', new)
    return changes


def _divide_strides(leaf: '_Leaf', path: str, node: Any, factor: int) -> List[str]:
    """Divide anchor / prior generator ``strides`` and RoI ``featmap_strides`` under ``node`` by ``factor``."""
    changes = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f'{path}.{key}'
            targets = []
            if key in ('anchor_generator', 'prior_generator') and isinstance(value, Mapping) and 'strides' in value:
                targets.append((f'{here}.strides', value['strides']))
            elif key == 'featmap_strides':
                targets.append((here, value))
            else:
                changes += _divide_strides(leaf, here, value, factor)
            for target, strides in targets:
                new = [_divide(s, factor) for s in strides]
                if None in new:
                    changes.append(f'{target} {list(strides)} kept: not divisible by {factor} (check it by hand)')
                    continue
                leaf.set(target, new)
                changes.append(f'{target}: {list(strides)} -> {new} (the CIFAR stem makes every feature map '
                               f'{factor}x finer)')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            changes += _divide_strides(leaf, f'{path}.{i}', value, factor)
    return changes


def _divide(stride: Any, factor: int) -> Any:
    if isinstance(stride, (list, tuple)):
        parts = [_divide(s, factor) for s in stride]
        return None if None in parts else type(stride)(parts)
    return stride // factor if isinstance(stride, int) and stride % factor == 0 else None


# -- B: our recipes on a data folder --------------------------------------------------------------------------------
def find_det_layout(folder: str) -> Dict[str, Any]:
    """Which COCO-format layout ``folder`` has, and its files.

    Args:
        folder: A detection data folder.

    Returns:
        dict with ``layout`` (``'composed'`` or ``'coco2017'``), ``ann`` and ``img`` (split -> path relative to
        ``folder``, the image folders ending in ``/``).

    Raises:
        ValueError: neither layout is complete; the message shows both.
    """
    for name, layout in DET_LAYOUTS.items():
        files = {part: {s: pattern.format(split=s) for s in ('train', 'val')} for part, pattern in layout.items()}
        if all(osp.isfile(osp.join(folder, f)) for f in files['ann'].values()) and \
                all(osp.isdir(osp.join(folder, f)) for f in files['img'].values()):
            return dict(layout=name, **files)
    shown = '; or '.join(f'{layout["ann"].format(split="{train,val}")} + {layout["img"].format(split="{train,val}")}'
                         for layout in DET_LAYOUTS.values())
    raise ValueError(f'{folder!r} is not a COCO-format detection folder. Expected inside it: {shown} '
                     f'(mixskd_mm.compare.scenes.write_composed_dataset writes the first, COCO 2017 is the second).')


def find_seg_layout(folder: str) -> Dict[str, Any]:
    """Which segmentation layout ``folder`` has, and the image / label-map suffixes of its files.

    Args:
        folder: A segmentation data folder.

    Returns:
        dict with ``layout`` (``'mmseg'`` or ``'composed'``), ``img`` and ``seg`` (split -> folder relative to
        ``folder``), ``img_suffix`` and ``seg_map_suffix`` (from the first training image and its label map:
        ``.jpg`` / ``.png``, ``_labelTrainIds.png`` ...).

    Raises:
        ValueError: neither layout is there, or a training image has no label map; the message shows both layouts.
    """
    shown = '; or '.join(f'{layout["img"].format(split="{train,val}")}/ + {layout["seg"].format(split="{train,val}")}/'
                         for layout in SEG_LAYOUTS.values())
    for name, layout in SEG_LAYOUTS.items():
        dirs = {part: {s: pattern.format(split=s) for s in ('train', 'val')} for part, pattern in layout.items()}
        if not all(osp.isdir(osp.join(folder, d)) for part in dirs.values() for d in part.values()):
            continue
        images = sorted(f for f in os.listdir(osp.join(folder, dirs['img']['train'])) if not f.startswith('.'))
        labels = sorted(f for f in os.listdir(osp.join(folder, dirs['seg']['train'])) if not f.startswith('.'))
        if not images:
            raise ValueError(f'{osp.join(folder, dirs["img"]["train"])!r} holds no images')
        stem, img_suffix = osp.splitext(images[0])
        matches = sorted((f for f in labels if f.startswith(stem) and f[len(stem):][:1] in ('.', '_')), key=len)
        if not matches:
            raise ValueError(f'{folder!r}: the training image {images[0]!r} has no label map named {stem}.png (or '
                             f'{stem}_SUFFIX.png) in {dirs["seg"]["train"]}/. Expected layout: {shown}.')
        return dict(layout=name, img_suffix=img_suffix, seg_map_suffix=matches[0][len(stem):], **dirs)
    raise ValueError(f'{folder!r} is not a segmentation folder. Expected inside it: {shown} (label maps are PNGs '
                     f'with class indices; the composed layout of mixskd_mm.compare.scenes has 0 = background).')


def _coco_categories(path: str) -> List[str]:
    """Category names of a COCO json, ordered by category id."""
    with open(path) as f:
        categories = json.load(f).get('categories') or []
    return [str(c['name']) for c in sorted(categories, key=lambda c: c['id'])]


def _seg_classes(folder: str, layout: str) -> List[str]:
    txt, meta = osp.join(folder, 'classes.txt'), osp.join(folder, 'meta.json')
    if osp.isfile(txt):
        with open(txt) as f:
            return [line.strip() for line in f if line.strip()]
    if osp.isfile(meta):
        with open(meta) as f:
            classes = [str(c) for c in json.load(f).get('classes') or []]
        if classes:
            return ['background', *classes] if layout == 'composed' else classes
    raise ValueError(f'{folder!r}: no class names: write classes.txt there (one name per line, line k for label '
                     f'value k) or pass classes=[...]')


def _check_classes(classes: Sequence[Any]) -> Tuple[str, ...]:
    names = tuple(str(c) for c in classes)
    if not names or len(set(names)) != len(names):
        raise ValueError(f'classes must be a non-empty list of distinct names, got {list(classes)!r}')
    return names


def _palette(n: int) -> List[List[int]]:
    """``n`` label colours: :data:`PALETTE`, then ``(37k, 91k, 157k) mod 256`` for the rest."""
    return [list(PALETTE[k]) if k < len(PALETTE) else [37 * k % 256, 91 * k % 256, 157 * k % 256] for k in range(n)]


def write_folder_leaf(folder: str, task: str, backbone_file: str, out_path: str, iters: Optional[int] = None,
                      classes: Optional[List[str]] = None) -> Dict[str, Any]:
    """Write a leaf over our transfer recipe of ``task`` that fine-tunes it on ``folder`` from a backbone file.

    The recipes are ``configs/demo/retinanet_test-resnet_fpn_1xb8-300i_composed-fashion.py`` (detection) and
    ``configs/demo/fpn_test-resnet_1xb8-300i_composed-fashion.py`` (segmentation). The leaf sets the data root,
    annotation files / image and label folders, class names (and a palette) of every split, the backbone's
    ``model_name`` / ``out_indices`` / ``cifar_stem`` from the file's metadata and ``init_cfg`` loading it, the
    neck's ``in_channels``, the head's ``num_classes`` and, with ``iters``, the schedule (:func:`schedule_overrides`).

    Folders: detection, ``annotations/instances_{train,val}.json`` + ``images/{train,val}/`` (what
    :func:`mixskd_mm.compare.scenes.write_composed_dataset` writes) or COCO 2017's
    ``annotations/instances_{train,val}2017.json`` + ``{train,val}2017/``, classes from the train json's categories
    by id. Segmentation, mmseg's ``img_dir/{train,val}`` + ``ann_dir/{train,val}`` or the composed
    ``images/{train,val}`` + ``labels/{train,val}`` (0 = background), classes from ``classes.txt`` (one per line)
    or ``meta.json`` (``classes``, after ``'background'`` for the composed layout).

    Args:
        folder: The data folder.
        task: ``'det'`` or ``'seg'``.
        backbone_file: An exported backbone (``tools/export_backbone.py``) with ``model_name`` metadata.
        out_path: Where the leaf is written (atomically).
        iters: Training iterations (``None``: the recipe's 300).
        classes: Class names instead of the folder's; for detection they must be category names of the json, for
            segmentation one per label value (background included).

    Returns:
        dict with ``config`` (``out_path``), ``metric`` (``'coco/bbox_mAP'`` or ``'mIoU'``) and ``changes``.

    Raises:
        FileNotFoundError: the recipe or the backbone file does not exist.
        ValueError: the folder has neither layout of the task, no class names, classes the json does not have, or
            the backbone file records fewer than four stages.
    """
    task = _task(task)
    from mmengine.config import Config
    folder = osp.abspath(folder)
    if not osp.isdir(folder):
        raise ValueError(f'data folder not found: {folder!r}')
    layout = find_det_layout(folder) if task == 'det' else find_seg_layout(folder)
    if task == 'det':
        categories = _coco_categories(osp.join(folder, layout['ann']['train']))
        names = _check_classes(classes if classes is not None else categories)
        unknown = [c for c in names if c not in categories]
        if unknown:
            raise ValueError(f'classes {unknown} are no category of {layout["ann"]["train"]} (it has {categories}); '
                             f'mmdet would silently drop their boxes')
    else:
        names = _check_classes(classes if classes is not None else _seg_classes(folder, layout['layout']))
    recipe = osp.join(ROOT, RECIPES[task])
    if not osp.isfile(recipe):
        raise FileNotFoundError(f'transfer recipe not found: {recipe!r} (write_folder_leaf needs a mixskd_mm '
                                f'checkout, with its configs/)')
    leaf = _Leaf(Config.fromfile(recipe).to_dict())
    model = leaf.work['model']
    info = read_backbone_file(backbone_file)
    out_indices = info['out_indices'] or tuple(model['backbone']['out_indices'])
    changes = [f'data: {folder} ({layout["layout"]} layout), {len(names)} classes {list(names)}']
    if len(out_indices) > 4:  # the recipes read C2..C5, the deepest four stages
        changes.append(f'out_indices {out_indices} of the file -> {out_indices[-4:]}: the recipe reads four stages')
        out_indices = out_indices[-4:]
    if len(out_indices) < 4:
        raise ValueError(f'{info["path"]} records out_indices {out_indices}; the transfer recipes read four stages '
                         f'(C2..C5, timm (1, 2, 3, 4) for a ResNet). Export from a four-stage backbone.')
    built = _checked_backbone(info, out_indices)
    channels = list(built.out_channels)

    root = folder + '/'
    leaf.set('data_root', root)
    leaf.set('classes', names)
    leaf.set('backbone_checkpoint', info['path'])
    leaf.set('model.backbone', dict(model_name=info['model_name'], out_indices=tuple(out_indices),
                                    **_backbone_extras(info),
                                    init_cfg=dict(type='Pretrained', checkpoint=info['path'])))
    changes.append(f'model.backbone: TimmStageBackbone({info["model_name"]!r}, out_indices={tuple(out_indices)}, '
                   f'out_channels={channels}) loading {info["path"]}'
                   + (' (cifar_stem=True, as pretrained)' if info['cifar_stem'] else ''))
    changes.append(f'model.neck.in_channels: {list(model["neck"]["in_channels"])} -> {channels}')
    leaf.set('model.neck.in_channels', channels)
    if task == 'det':
        leaf.set('model.bbox_head.num_classes', len(names))
        changes.append(f'model.bbox_head.num_classes = {len(names)}')
        for split in ('train', 'val', 'test'):
            part = 'train' if split == 'train' else 'val'
            leaf.set(f'{split}_dataloader.dataset', dict(data_root=root, metainfo=dict(classes=names),
                                                         ann_file=layout['ann'][part],
                                                         data_prefix=dict(img=layout['img'][part])))
        for split in ('val', 'test'):
            leaf.set(f'{split}_evaluator.ann_file', osp.join(folder, layout['ann']['val']))
        if info['cifar_stem']:
            changes += _divide_strides(leaf, 'model', model, 4)
    else:
        for head in ('decode_head', 'auxiliary_head'):
            if isinstance(model.get(head), Mapping):
                leaf.set(f'model.{head}.num_classes', len(names))
                changes.append(f'model.{head}.num_classes = {len(names)}')
        for split in ('train', 'val', 'test'):
            part = 'train' if split == 'train' else 'val'
            leaf.set(f'{split}_dataloader.dataset', dict(
                data_root=root, metainfo=dict(classes=names, palette=_palette(len(names))),
                data_prefix=dict(img_path=layout['img'][part], seg_map_path=layout['seg'][part]),
                img_suffix=layout['img_suffix'], seg_map_suffix=layout['seg_map_suffix']))
    if iters is not None:
        for key, value in schedule_overrides(task, iters).items():
            leaf.set(key, value)
        changes.append(f'schedule: {int(iters)} iterations, warm-up and decay rescaled '
                       f'({", ".join(schedule_options(task, iters))})')

    metric = metric_key(leaf.work)
    _write(out_path, leaf, recipe, f'write_folder_leaf({folder!r}, {task!r})', info['path'], changes)
    return dict(config=out_path, metric=metric, changes=changes)


# -- writing a leaf -------------------------------------------------------------------------------------------------
def _task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"task must be 'det' or 'seg', got {task!r}")
    return TASKS[task]


class _Leaf:
    """The top-level entries of a leaf config, and the base config with them applied (``work``).

    :meth:`set` takes ``--cfg-options`` style dotted keys. Entries inside a list (``param_scheduler.0.end``) are
    written as the whole list, as mmengine replaces lists instead of merging them.
    """

    def __init__(self, base: Mapping) -> None:
        self.work: Dict[str, Any] = copy.deepcopy(dict(base))
        self.body: Dict[str, Any] = {}
        self._lists: List[Tuple[str, ...]] = []

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` (dotted, list items by index) to ``value``; a dict merges unless it has ``_delete_=True``."""
        parts = key.split('.')
        node, cut = self.work, None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                cut = i if cut is None else cut
                index = int(part)
                if last:
                    node[index] = _merged(node[index], value)
                else:
                    node[index] = _mutable(node[index])
                    node = node[index]
            else:
                if last:
                    node[part] = _merged(node.get(part), value)
                else:
                    node[part] = _mutable(node.get(part)) if isinstance(node.get(part), (dict, list, tuple)) else {}
                    node = node[part]
        if cut is None:
            _set_nested(self.body, parts, value)
        elif tuple(parts[:cut]) not in self._lists:
            self._lists.append(tuple(parts[:cut]))

    def entries(self) -> Dict[str, Any]:
        """The leaf's top-level entries, lists that were edited item by item written whole."""
        body = copy.deepcopy(self.body)
        for path in self._lists:
            node: Any = self.work
            for part in path:
                node = node[int(part)] if isinstance(node, list) else node[part]
            _set_nested(body, list(path), node)
        return body


def _mutable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _merged(old: Any, new: Any) -> Any:
    """``new`` merged into ``old`` as mmengine merges a child config into its base."""
    if isinstance(new, Mapping):
        if new.get('_delete_') or not isinstance(old, Mapping):
            return {k: _merged(None, v) for k, v in new.items() if k != '_delete_'}
        out = dict(old)
        for k, v in new.items():
            out[k] = _merged(old.get(k), v)
        return out
    return copy.deepcopy(new)


def _set_nested(body: Dict[str, Any], parts: Sequence[str], value: Any) -> None:
    for part in parts[:-1]:
        if not isinstance(body.get(part), dict):
            body[part] = {}
        body = body[part]
    old = body.get(parts[-1])
    if isinstance(value, Mapping) and isinstance(old, dict) and not value.get('_delete_'):
        for k, v in value.items():
            _set_nested(old, [k], v)
    else:
        body[parts[-1]] = copy.deepcopy(value)


def _write(out_path: str, leaf: _Leaf, base: str, what: str, backbone: str, changes: Sequence[str]) -> None:
    lines = [f'# Written by mixskd_mm.compare.transfer.{what}: fine-tunes the base config from the backbone file',
             f'#   {backbone}',
             '# Train it with `python tools/train.py THIS_FILE --work-dir WORK_DIR`. Changed from the base config:']
    lines += [f'#   - {change}' for change in changes]
    lines += [f'_base_ = [{base!r}]', '']
    for key, value in leaf.entries().items():
        lines.append(f'{key} = {_literal(value, len(key) + 3)}')
    atomic_write_bytes(('\n'.join(lines) + '\n').encode('utf-8'), out_path)


def _is_name(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def _inline(value: Any) -> str:
    """``value`` as one line of Python (dicts with identifier keys as ``dict(...)``)."""
    if isinstance(value, Mapping):
        if all(_is_name(k) for k in value):
            return 'dict(' + ', '.join(f'{k}={_inline(v)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{_inline(k)}: {_inline(v)}' for k, v in value.items()) + '}'
    if isinstance(value, tuple):
        inner = ', '.join(_inline(v) for v in value)
        return f'({inner},)' if len(value) == 1 else f'({inner})'
    if isinstance(value, list):
        return '[' + ', '.join(_inline(v) for v in value) + ']'
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise ValueError(f'cannot write a {type(value).__name__} ({value!r}) into a config file')


def _literal(value: Any, column: int, indent: int = 0) -> str:
    """``value`` as Python starting at ``column`` of a line indented by ``indent``; containers that do not fit in
    :data:`LINE` columns get one item a line, 4 spaces deeper."""
    one = _inline(value)
    if column + len(one) <= LINE or not isinstance(value, (Mapping, list, tuple)) or not value:
        return one
    inner = indent + 4
    pad = ' ' * inner
    if isinstance(value, Mapping):
        if all(_is_name(k) for k in value):
            items = [f'{pad}{k}={_literal(v, inner + len(k) + 1, inner)}' for k, v in value.items()]
            return 'dict(\n' + ',\n'.join(items) + ')'
        items = [f'{pad}{_inline(k)}: {_literal(v, inner + len(_inline(k)) + 2, inner)}' for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '}'
    items = [f'{pad}{_literal(v, inner, inner)}' for v in value]
    open_, close = ('(', ',)' if len(value) == 1 else ')') if isinstance(value, tuple) else ('[', ']')
    return open_ + '\n' + ',\n'.join(items) + close
