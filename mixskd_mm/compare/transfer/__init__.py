"""Transfer leaves for ``tools/compare.py``: one mmengine config per exported backbone file that fine-tunes a detector
or a segmentor from it, trained with ``python tools/train.py LEAF --work-dir W``.

Two writers, both deterministic (the same inputs give the same bytes) and atomic (:mod:`mixskd_mm.utils.atomic_io`):

- :func:`write_user_leaf` (:mod:`.user`): over a user's own MMDetection 3.x / MMSegmentation 1.x config, the
  changes README.md's section "Use a MixSKD backbone in your own mmdet/mmseg config" lists, made automatically;
- :func:`write_folder_leaf` (:mod:`.folders`): our transfer recipes (``configs/demo/retinanet_...py``,
  ``configs/demo/fpn_...py``) on a data folder: a COCO-format folder for detection, an mmseg-layout folder for
  segmentation.

What both share (the backbone file, schedules, the metric key) is in :mod:`.common`; the leaf writer in :mod:`.leaf`;
the comparison's fine-tunes (planning the leaves, running them, reading their metric back) in :mod:`.runs`.
Class names, data roots and annotation files are written into the leaf itself, never passed as ``--cfg-options``:
mmengine's parser turns a class called ``'0'`` into ``0`` and drops the spaces of ``'Ankle boot'``.

Example:
    >>> info = write_user_leaf('my_retinanet.py', 'det', 'work_dirs/mixskd/backbone.safetensors',
    ...                        'work_dirs/compare/det_mixskd.py')  # doctest: +SKIP
    >>> info['metric'], info['changes'][0]  # doctest: +SKIP
    ('coco/bbox_mAP', 'model.backbone: ResNet -> mixskd_mm.TimmStageBackbone(...)')
"""
from .common import (
    MANUAL_FIX,
    TASKS,
    Task,
    metric_key,
    read_backbone_file,
    schedule_options,
    schedule_overrides,
)
from .folders import DET_LAYOUTS, PALETTE, SEG_LAYOUTS, find_det_layout, find_seg_layout, write_folder_leaf
from .leaf import LINE
from .user import DEFAULT_STRIDES, MM_STAGE_NUMBERING, NORM_TYPES, write_user_leaf

__all__ = ['DEFAULT_STRIDES', 'DET_LAYOUTS', 'LINE', 'MANUAL_FIX', 'MM_STAGE_NUMBERING', 'NORM_TYPES', 'PALETTE',
           'SEG_LAYOUTS', 'TASKS', 'Task', 'find_det_layout', 'find_seg_layout', 'metric_key',
           'read_backbone_file', 'schedule_options', 'schedule_overrides', 'write_folder_leaf', 'write_user_leaf']
