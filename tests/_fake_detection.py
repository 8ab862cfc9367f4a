"""Tiny detection datasets in the layouts the mmdet base configs expect under their ``data_root``.

- COCO detection: ``annotations/instances_{train,val}2017.json`` + ``{train,val}2017/*.jpg``;
- Pascal VOC detection: ``VOC2007`` and ``VOC2012`` with ``Annotations/*.xml``, ``JPEGImages/*.jpg`` and
  ``ImageSets/Main/{trainval,test}.txt``.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _fake_images import IMAGE_HW, Box, random_boxes, write_jpeg, write_list

# the 80 category ids of the COCO 2017 annotation files (1..90 with gaps)
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
VOC_DET_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
                   'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
                   'tvmonitor')


def write_coco_detection(root: Path, num_train: int = 4, num_val: int = 2) -> None:
    """COCO 2017 instance annotations (bbox + polygon) for ``num_train`` / ``num_val`` JPEGs.

    Args:
        root: The folder the configs' ``data_root`` names (``coco``).
        num_train: Images in ``train2017``.
        num_val: Images in ``val2017``.
    """
    rng = np.random.default_rng(1)
    from mmdet.datasets import CocoDataset
    categories = [dict(id=i, name=name, supercategory='none')
                  for i, name in zip(COCO_IDS, CocoDataset.METAINFO['classes'])]
    ann_id = 0
    for split, num in (('train2017', num_train), ('val2017', num_val)):
        images, annotations = [], []
        for i in range(num):
            img_id = 100 + i if split == 'train2017' else 500 + i
            file_name = f'{img_id:012d}.jpg'
            boxes = random_boxes(rng)
            write_jpeg(root / split / file_name, rng, boxes)
            images.append(dict(id=img_id, file_name=file_name, height=IMAGE_HW[0], width=IMAGE_HW[1]))
            for k, (x1, y1, x2, y2) in enumerate(boxes):
                ann_id += 1
                annotations.append(dict(
                    id=ann_id, image_id=img_id, category_id=COCO_IDS[k], iscrowd=0, area=float((x2 - x1) * (y2 - y1)),
                    bbox=[float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    segmentation=[[float(v) for v in (x1, y1, x2, y1, x2, y2, x1, y2)]]))
        (root / 'annotations').mkdir(parents=True, exist_ok=True)
        ann = dict(info=dict(description='tiny COCO for tests'), licenses=[], images=images,
                   annotations=annotations, categories=categories)
        (root / 'annotations' / f'instances_{split}.json').write_text(json.dumps(ann))


def _voc_xml(folder: str, file_name: str, boxes: Sequence[Box], names: Sequence[str]) -> str:
    """A VOC ``Annotations/*.xml`` document; VOC boxes are 1-based and inclusive."""
    objects = ''.join(
        f'<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>'
        f'<bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>'
        for (x1, y1, x2, y2), name in zip(boxes, names))
    return (f'<annotation><folder>{folder}</folder><filename>{file_name}</filename>'
            f'<size><width>{IMAGE_HW[1]}</width><height>{IMAGE_HW[0]}</height><depth>3</depth></size>'
            f'<segmented>0</segmented>{objects}</annotation>\n')


def write_voc_detection(root: Path) -> None:
    """``root`` is ``VOCdevkit``: VOC2007 (2 trainval + 2 test images) and VOC2012 (2 trainval images).

    Args:
        root: The folder the configs' ``data_root`` names (``VOCdevkit``).
    """
    rng = np.random.default_rng(2)
    splits = {'VOC2007': dict(trainval=['000005', '000007'], test=['000001', '000004']),
              'VOC2012': dict(trainval=['2008_000008', '2008_000015'])}
    for year, lists in splits.items():
        for split, ids in lists.items():
            write_list(root / year / 'ImageSets' / 'Main' / f'{split}.txt', ids)
            for n, img_id in enumerate(ids):
                boxes = random_boxes(rng)
                names = [VOC_DET_CLASSES[(n + k) % 3] for k in range(len(boxes))]
                write_jpeg(root / year / 'JPEGImages' / f'{img_id}.jpg', rng, boxes)
                (root / year / 'Annotations').mkdir(parents=True, exist_ok=True)
                (root / year / 'Annotations' / f'{img_id}.xml').write_text(
                    _voc_xml(year, f'{img_id}.jpg', boxes, names))
