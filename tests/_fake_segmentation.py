"""Tiny segmentation datasets in the layouts the mmseg base configs expect under their ``data_root``.

- ADE20K: ``images/{training,validation}/*.jpg`` + ``annotations/{training,validation}/*.png`` (0 = "other");
- Pascal VOC 2012 + SBD aug: ``JPEGImages``, ``SegmentationClass`` (palette PNGs), ``SegmentationClassAug``
  (grey PNGs), ``ImageSets/Segmentation/{train,val,aug}.txt``;
- COCO-Stuff-164K: ``images/{train,val}2017/*.jpg`` + ``annotations/{train,val}2017/*_labelTrainIds.png``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from _fake_images import label_map, random_boxes, write_jpeg, write_list, write_png


def _seg_sample(rng: np.random.Generator, image: Path, label: Path, classes: Sequence[int], background: int) -> None:
    """One JPEG and its grey label PNG, each rectangle labelled with a class drawn from ``classes``."""
    boxes = random_boxes(rng)
    write_jpeg(image, rng, boxes)
    write_png(label, label_map(boxes, [int(rng.choice(classes)) for _ in boxes], background))


def write_ade20k(root: Path) -> None:
    """``root`` is ``ADEChallengeData2016``; labels 0 ("other", ignored by reduce_zero_label) and 1..150.

    Args:
        root: The folder the configs' ``data_root`` names (``ade/ADEChallengeData2016``).
    """
    rng = np.random.default_rng(3)
    for split, tag in (('training', 'train'), ('validation', 'val')):
        for i in range(1, 3):
            name = f'ADE_{tag}_{i:08d}'
            _seg_sample(rng, root / 'images' / split / f'{name}.jpg', root / 'annotations' / split / f'{name}.png',
                        classes=(1, 2, 13, 150), background=0)


def write_voc_aug(root: Path) -> None:
    """``root`` is ``VOCdevkit/VOC2012`` after mmseg's ``tools/dataset_converters/voc_aug.py``.

    Args:
        root: The folder the configs' ``data_root`` names (``VOCdevkit/VOC2012``).
    """
    rng = np.random.default_rng(4)
    train, extra, val = ['2007_000032', '2007_000039'], ['2008_000002', '2008_000003'], ['2007_000033', '2007_000042']
    for name in train + extra + val:
        boxes = random_boxes(rng)
        seg = label_map(boxes, [int(rng.choice((1, 8, 12, 15, 20))) for _ in boxes], background=0)
        write_jpeg(root / 'JPEGImages' / f'{name}.jpg', rng, boxes)
        if name not in extra:  # the original VOC annotations
            write_png(root / 'SegmentationClass' / f'{name}.png', seg, palette=True)
        if name not in val:  # SBD's, converted to grey PNGs
            write_png(root / 'SegmentationClassAug' / f'{name}.png', seg)
    write_list(root / 'ImageSets' / 'Segmentation' / 'train.txt', train)
    write_list(root / 'ImageSets' / 'Segmentation' / 'val.txt', val)
    write_list(root / 'ImageSets' / 'Segmentation' / 'aug.txt', train + extra)


def write_coco_stuff164k(root: Path) -> None:
    """``root`` is ``coco_stuff164k`` after mmseg's ``coco_stuff164k.py`` converter (train ids 0..170).

    Args:
        root: The folder the configs' ``data_root`` names (``coco_stuff164k``).
    """
    rng = np.random.default_rng(5)
    for split, first in (('train2017', 9), ('val2017', 139)):
        for i in range(2):
            name = f'{first + i:012d}'
            _seg_sample(rng, root / 'images' / split / f'{name}.jpg',
                        root / 'annotations' / split / f'{name}_labelTrainIds.png', classes=(0, 5, 91, 170),
                        background=100)
