"""Writing composed scenes to disk: PNG images, PNG label maps and COCO instance annotations.

Part of :mod:`mixskd_mm.datasets.scenes` (the demo's transfer data). One split is written
as::

    OUT/images/SPLIT/00000.png                RGB scenes
    OUT/labels/SPLIT/00000.png                label maps: 0 background, k + 1 for class k
    OUT/annotations/instances_SPLIT.json      COCO instances: boxes [x, y, w, h] and masks as compressed RLE
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .painting import Scene


def coco_dict(scenes: Sequence[Scene], file_names: Sequence[str], classes: Sequence[str]) -> dict:
    """COCO instances of ``scenes``: boxes ``[x, y, w, h]``, compressed-RLE masks, mask areas, category ids 1..C.

    Args:
        scenes: The scenes, one COCO image each (image ids 1..N in this order).
        file_names: The file name of each scene's image.
        classes: The class names; scene label ``k`` becomes category id ``k + 1``.

    Returns:
        The COCO ``instances`` dict, ready for :func:`json.dump`.
    """
    from pycocotools import mask as mask_utils
    images: list[dict] = []
    annotations: list[dict] = []
    for image_id, (scene, name) in enumerate(zip(scenes, file_names), start=1):
        height, width = scene.image.shape[:2]
        images.append(dict(id=image_id, file_name=name, height=height, width=width))
        for mask, label, (x1, y1, x2, y2) in zip(scene.masks, scene.labels, scene.boxes):
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id, category_id=label + 1, iscrowd=0,
                                    bbox=[float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                                    area=float(mask.sum()),
                                    segmentation=dict(size=[height, width], counts=rle['counts'].decode('ascii'))))
    categories = [dict(id=k + 1, name=name, supercategory='object') for k, name in enumerate(classes)]
    return dict(info=dict(description='Held-out Fashion-MNIST objects on scikit-image photos (mixskd_mm)'),
                licenses=[], images=images, annotations=annotations, categories=categories)


def label_map(scene: Scene) -> np.ndarray:
    """``uint8 [H, W]``: 0 for background, ``k + 1`` where an object of class ``k`` lies."""
    out = np.zeros(scene.image.shape[:2], dtype=np.uint8)
    for mask, label in zip(scene.masks, scene.labels):
        out[mask] = label + 1
    return out


def write_split(scenes: Sequence[Scene], out_dir: str, split: str, classes: Sequence[str]) -> str:
    """Write ``images/SPLIT/*.png``, ``labels/SPLIT/*.png`` and ``annotations/instances_SPLIT.json``.

    Args:
        scenes: The split's scenes, written as ``00000.png``, ``00001.png``... in this order.
        out_dir: The dataset's root folder.
        split: The split's name (``train``, ``val``).
        classes: The class names, for the COCO categories.

    Returns:
        The annotation file's path relative to ``out_dir``.
    """
    names = [f'{i:05d}.png' for i in range(len(scenes))]
    for folder in ('images', 'labels', 'annotations'):
        os.makedirs(os.path.join(out_dir, folder, split) if folder != 'annotations' else
                    os.path.join(out_dir, folder), exist_ok=True)
    for scene, name in zip(scenes, names):
        Image.fromarray(scene.image).save(os.path.join(out_dir, 'images', split, name))
        Image.fromarray(label_map(scene)).save(os.path.join(out_dir, 'labels', split, name))
    ann_file = os.path.join('annotations', f'instances_{split}.json')
    with open(os.path.join(out_dir, ann_file), 'w') as f:
        json.dump(coco_dict(scenes, names, classes), f)
    return ann_file
