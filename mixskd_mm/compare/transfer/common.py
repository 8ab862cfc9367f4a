"""What both transfer writers share: the table of tasks (names, scopes, recipes, metric units), the schedules, the
metric a config logs, the exported backbone file (its metadata, and the TimmStageBackbone it describes, checked by
loading it) and the anchor / RoI strides a CIFAR stem divides.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mixskd_mm.weights.files import load_into, read_weights
from mixskd_mm.weights.record import BackboneRecord

from .leaf import Leaf


# -- tasks ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """A transfer task: what it is called, which library runs it, our recipe for it and the unit of its metric.

    Attributes:
        key: ``'det'`` or ``'seg'``: the ``--det-*`` / ``--seg-*`` options, and the names of fine-tunes and leaves.
        name: ``'detection'`` or ``'segmentation'``: the task in the report, ``results.json`` and tools/demo.py.
        scope: The ``default_scope`` of the task's configs.
        recipe: Our transfer recipe, relative to the configs folder (:func:`mixskd_mm.utils.locations.config_path`).
        metric_scale: The factor that turns the logged metric into percent (mmdet logs AP as a fraction, mmseg logs
            IoU in percent).
    """

    key: str
    name: str
    scope: str
    recipe: str
    metric_scale: float


#: the one table of transfer tasks, by key
TASKS = {task.key: task for task in (
    Task('det', 'detection', 'mmdet', 'demo/retinanet_test-resnet_fpn_1xb8-300i_composed-fashion.py', 100.0),
    Task('seg', 'segmentation', 'mmseg', 'demo/fpn_test-resnet_1xb8-300i_composed-fashion.py', 1.0))}


@dataclass(frozen=True)
class Backend:
    """The library a fine-tune trains with: its tool, how its metric is named in the report and its unit.

    Attributes:
        key: ``'mmengine'`` (MMDetection / MMSegmentation through tools/train.py) or ``'detectron2'``.
        tool: The training script, relative to the repository.
        label: What the report puts before the metric's key (``'Detectron2 '``; ``''`` for mmengine).
        metric_scale: The factor that turns the logged metric into percent; ``None``: the task's
            (:attr:`Task.metric_scale`: mmdet's fraction, mmseg's percent). Detectron2 logs AP in percent.
    """

    key: str
    tool: str
    label: str
    metric_scale: float | None

    def scale(self, task: Task) -> float:
        """The factor for ``task``'s metric."""
        return task.metric_scale if self.metric_scale is None else self.metric_scale


#: the backends, by key
BACKENDS = {b.key: b for b in (Backend('mmengine', 'tools/train.py', '', None),
                               Backend('detectron2', 'tools/d2_train.py', 'Detectron2 ', 1.0))}
#: where a user is sent when a config cannot be converted automatically
MANUAL_FIX = ('Make the change by hand as README.md, section "Use a MixSKD backbone in your own mmdet/mmseg config", '
              'shows (paste-in lines for an mmdet FPN detector and an mmseg ResNet-D8 model).')


def task_of(task: str) -> Task:
    """The task called ``task``: its key (``'det'``, ``'seg'``) or its name (``'detection'``, ``'segmentation'``).

    Raises:
        ValueError: for another word.
    """
    found = TASKS.get(task) or next((t for t in TASKS.values() if t.name == task), None)
    if found is None:
        raise ValueError(f"task must be 'det' or 'seg', got {task!r}")
    return found


# -- schedules ------------------------------------------------------------------------------------------------------
def schedule_overrides(task: str, iters: int) -> dict[str, int]:
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
    task = task_of(task).key
    if int(iters) < 1:
        raise ValueError(f'iters must be at least 1, got {iters}')
    iters = int(iters)
    warmup = min(50, max(1, iters // 6))
    out = {'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters, 'default_hooks.checkpoint.interval': iters,
           'param_scheduler.0.end': warmup, 'param_scheduler.1.begin': warmup, 'param_scheduler.1.end': iters}
    if task == 'det':  # cosine decay; the segmentation recipe's poly decay has no T_max
        out['param_scheduler.1.T_max'] = max(1, iters - warmup)
    return out


def schedule_options(task: str, iters: int) -> list[str]:
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
def read_backbone_file(path: str) -> dict[str, Any]:
    """What an exported backbone file (:mod:`mixskd_mm.export.backbone_file`) records, read with the project's own
    reader: its :class:`~mixskd_mm.weights.record.BackboneRecord`, and its tensors.

    Args:
        path: A ``.safetensors`` (or ``.pth``) file written by ``tools/export_backbone.py``.

    Returns:
        dict with ``path`` (absolute), ``record`` (the :class:`~mixskd_mm.weights.record.BackboneRecord`), its
        ``model_name``, ``out_indices`` (a tuple, or ``None`` when not recorded), ``cifar_stem``, ``stem_act`` and
        ``in_chans`` (absent ones at their defaults), ``metadata`` (all string metadata) and ``state`` (the tensors).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file records no ``model_name``, or an option it records cannot be read.
    """
    path = osp.abspath(path)
    state, meta = read_weights(path)
    record = BackboneRecord.from_metadata(meta)
    if record is None:
        raise ValueError(f'{path} records no model_name in its metadata, so the timm architecture to build is '
                         f'unknown. Export the backbone with `python tools/export_backbone.py CHECKPOINT '
                         f'OUT.safetensors` from a checkpoint of a TimmStageBackbone model.')
    if record.unreadable:
        raise ValueError(f'{path} records {", ".join(f"{k}={meta[k]!r}" for k in record.unreadable)} in its '
                         f'metadata, which cannot be read as the option; re-export the backbone with '
                         f'`python tools/export_backbone.py CHECKPOINT OUT.safetensors`.')
    return dict(path=path, record=record, model_name=record.model_name, out_indices=record.out_indices,
                cifar_stem=record.cifar_stem, stem_act=record.stem_act, in_chans=record.in_chans,
                metadata=dict(meta), state=state)


def checked_backbone(info: Mapping, out_indices: Sequence[int], output_stride: int | None = None):
    """Build the TimmStageBackbone the leaf describes and load the file into it (every tensor must match)."""
    from mixskd_mm.models.backbones import TimmStageBackbone  # timm loads only when a leaf is written
    kwargs = backbone_extras(info)
    backbone = TimmStageBackbone(info['model_name'], out_indices=tuple(out_indices), output_stride=output_stride,
                                 **kwargs)
    load_into(backbone, info['state'], source=info['path'], expected_arch=info['model_name'],
              file_arch=info['model_name'])
    return backbone


def backbone_extras(info: Mapping) -> dict[str, Any]:
    """The TimmStageBackbone options the weights themselves need (a CIFAR stem, its activation, input channels):
    :meth:`~mixskd_mm.weights.record.BackboneRecord.weight_options` of the file's record."""
    return info['record'].weight_options()


# -- a CIFAR stem: every feature map 4x finer -----------------------------------------------------------------------
def divide_strides(leaf: Leaf, path: str, node: Any, factor: int) -> list[str]:
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
                changes += divide_strides(leaf, here, value, factor)
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
            changes += divide_strides(leaf, f'{path}.{i}', value, factor)
    return changes


def _divide(stride: Any, factor: int) -> Any:
    if isinstance(stride, (list, tuple)):
        parts = [_divide(s, factor) for s in stride]
        return None if None in parts else type(stride)(parts)
    return stride // factor if isinstance(stride, int) and stride % factor == 0 else None
