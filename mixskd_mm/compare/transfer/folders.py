"""Our transfer recipes on a data folder: :func:`write_folder_leaf` fine-tunes ``configs/demo/retinanet_...py`` on a
COCO-format folder (detection) or ``configs/demo/fpn_...py`` on an mmseg-layout folder (segmentation); the layouts
it reads are :data:`DET_LAYOUTS` and :data:`SEG_LAYOUTS`, found by :func:`find_det_layout` / :func:`find_seg_layout`.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

from mixskd_mm.utils.locations import config_path

from . import common
from .leaf import Leaf, write_leaf

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


def find_det_layout(folder: str) -> dict[str, Any]:
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
                     f'(mixskd_mm.datasets.scenes.write_composed_dataset writes the first, COCO 2017 is the second).')


def find_seg_layout(folder: str) -> dict[str, Any]:
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
                     f'with class indices; the composed layout of mixskd_mm.datasets.scenes has 0 = background).')


def _coco_categories(path: str) -> list[str]:
    """Category names of a COCO json, ordered by category id."""
    with open(path) as f:
        categories = json.load(f).get('categories') or []
    return [str(c['name']) for c in sorted(categories, key=lambda c: c['id'])]


def _seg_classes(folder: str, layout: str) -> list[str]:
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


def _check_classes(classes: Sequence[Any]) -> tuple[str, ...]:
    names = tuple(str(c) for c in classes)
    if not names or len(set(names)) != len(names):
        raise ValueError(f'classes must be a non-empty list of distinct names, got {list(classes)!r}')
    return names


def _palette(n: int) -> list[list[int]]:
    """``n`` label colours: :data:`PALETTE`, then ``(37k, 91k, 157k) mod 256`` for the rest."""
    return [list(PALETTE[k]) if k < len(PALETTE) else [37 * k % 256, 91 * k % 256, 157 * k % 256] for k in range(n)]


def write_folder_leaf(folder: str, task: str, backbone_file: str, out_path: str, iters: int | None = None,
                      classes: list[str] | None = None) -> dict[str, Any]:
    """Write a leaf over our transfer recipe of ``task`` that fine-tunes it on ``folder`` from a backbone file.

    The recipes are ``configs/demo/retinanet_test-resnet_fpn_1xb8-300i_composed-fashion.py`` (detection) and
    ``configs/demo/fpn_test-resnet_1xb8-300i_composed-fashion.py`` (segmentation). The leaf sets the data root,
    annotation files / image and label folders, class names (and a palette) of every split, the backbone's
    ``model_name`` / ``out_indices`` / ``cifar_stem`` from the file's metadata and ``init_cfg`` loading it, the
    neck's ``in_channels``, the head's ``num_classes`` and, with ``iters``, the schedule
    (:func:`~.common.schedule_overrides`).

    Folders: detection, ``annotations/instances_{train,val}.json`` + ``images/{train,val}/`` (what
    :func:`mixskd_mm.datasets.scenes.write_composed_dataset` writes) or COCO 2017's
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
    task = common.task_of(task).key
    folder, layout, names = _folder_data(folder, task, classes)
    recipe, leaf = _recipe_leaf(task)
    model = leaf.work['model']
    info = common.read_backbone_file(backbone_file)
    changes = [f'data: {folder} ({layout["layout"]} layout), {len(names)} classes {list(names)}']
    out_indices = _four_stages(info, info['out_indices'] or tuple(model['backbone']['out_indices']), changes)
    channels = list(common.checked_backbone(info, out_indices).out_channels)
    _set_data_and_backbone(leaf, folder, names, info, (out_indices, channels), changes)
    if task == 'det':
        _set_detection(leaf, folder, layout, names, info, changes)
    else:
        _set_segmentation(leaf, folder, layout, names, changes)
    if iters is not None:
        for key, value in common.schedule_overrides(task, iters).items():
            leaf.set(key, value)
        changes.append(f'schedule: {int(iters)} iterations, warm-up and decay rescaled '
                       f'({", ".join(common.schedule_options(task, iters))})')

    metric = common.metric_key(leaf.work)
    write_leaf(out_path, leaf, recipe, f'write_folder_leaf({folder!r}, {task!r})', info['path'], changes)
    return dict(config=out_path, metric=metric, changes=changes)


def _folder_data(folder: str, task: str, classes: list[str] | None) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """The folder's absolute path, its layout (:func:`find_det_layout` / :func:`find_seg_layout`) and class names."""
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
    return folder, layout, names


def _recipe_leaf(task: str) -> tuple[str, Leaf]:
    """The path of the task's recipe, and a leaf over it."""
    from mmengine.config import Config
    recipe = config_path(common.TASKS[task].recipe)
    return recipe, Leaf(Config.fromfile(recipe).to_dict())


def _four_stages(info: Mapping, out_indices: tuple[int, ...], changes: list[str]) -> tuple[int, ...]:
    """The deepest four of ``out_indices``, which the recipes read (C2..C5); refuses fewer."""
    if len(out_indices) > 4:  # the recipes read C2..C5, the deepest four stages
        changes.append(f'out_indices {out_indices} of the file -> {out_indices[-4:]}: the recipe reads four stages')
        out_indices = out_indices[-4:]
    if len(out_indices) < 4:
        raise ValueError(f'{info["path"]} records out_indices {out_indices}; the transfer recipes read four stages '
                         f'(C2..C5, timm (1, 2, 3, 4) for a ResNet). Export from a four-stage backbone.')
    return out_indices


def _set_data_and_backbone(leaf: Leaf, folder: str, names: tuple[str, ...], info: Mapping, stages: tuple,
                           changes: list[str]) -> None:
    """Data root, class names, the backbone loading the file and the neck reading it; ``stages`` is
    ``(out_indices, out_channels)``."""
    out_indices, channels = stages
    model = leaf.work['model']
    root = folder + '/'
    leaf.set('data_root', root)
    leaf.set('classes', names)
    leaf.set('backbone_checkpoint', info['path'])
    leaf.set('model.backbone', dict(model_name=info['model_name'], out_indices=tuple(out_indices),
                                    **common.backbone_extras(info),
                                    init_cfg=dict(type='Pretrained', checkpoint=info['path'])))
    changes.append(f'model.backbone: TimmStageBackbone({info["model_name"]!r}, out_indices={tuple(out_indices)}, '
                   f'out_channels={channels}) loading {info["path"]}'
                   + (' (cifar_stem=True, as pretrained)' if info['cifar_stem'] else ''))
    changes.append(f'model.neck.in_channels: {list(model["neck"]["in_channels"])} -> {channels}')
    leaf.set('model.neck.in_channels', channels)


def _set_detection(leaf: Leaf, folder: str, layout: Mapping, names: tuple[str, ...], info: Mapping,
                   changes: list[str]) -> None:
    """The detection recipe's head, datasets and evaluators (and, with a CIFAR stem, its strides)."""
    model, root = leaf.work['model'], folder + '/'
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
        changes += common.divide_strides(leaf, 'model', model, 4)


def _set_segmentation(leaf: Leaf, folder: str, layout: Mapping, names: tuple[str, ...], changes: list[str]) -> None:
    """The segmentation recipe's heads and datasets (class names with a palette)."""
    model, root = leaf.work['model'], folder + '/'
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
