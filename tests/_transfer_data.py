"""Tiny detection and segmentation datasets in their real on-disk layouts, a ResNet-50 backbone file, and the
``--cfg-options`` that point a transfer config at them and shrink its image sizes for a CPU.

The one import of the transfer tests; the pieces live in

- :mod:`_fake_images`: the noise-and-rectangles images, label maps and image lists every dataset is made of;
- :mod:`_fake_detection`: COCO and Pascal VOC detection;
- :mod:`_fake_segmentation`: ADE20K, Pascal VOC 2012 + SBD aug and COCO-Stuff-164K;
- :mod:`_transfer_cpu`: the CPU ``--cfg-options``, one-thread settings and readers of a run's logs;

and are re-exported here. This module adds :data:`WRITERS` and the once-per-session :func:`dataset_root` and
:func:`resnet50_backbone_file`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from _fake_detection import COCO_IDS as COCO_IDS
from _fake_detection import VOC_DET_CLASSES as VOC_DET_CLASSES
from _fake_detection import write_coco_detection, write_voc_detection
from _fake_images import IMAGE_HW as IMAGE_HW
from _fake_images import Box as Box
from _fake_segmentation import write_ade20k, write_coco_stuff164k, write_voc_aug
from _transfer_cpu import ONE_THREAD as ONE_THREAD
from _transfer_cpu import TEST_CROP as TEST_CROP
from _transfer_cpu import TEST_SCALE as TEST_SCALE
from _transfer_cpu import backbone_load_report as backbone_load_report
from _transfer_cpu import cpu_options as cpu_options
from _transfer_cpu import one_torch_thread as one_torch_thread
from _transfer_cpu import scalars as scalars
from _transfer_cpu import walk_dicts as walk_dicts

#: dataset kind -> (writer, the folder the configs' ``data_root`` names)
WRITERS: dict[str, tuple[Callable[[Path], None], str]] = dict(
    coco=(write_coco_detection, 'coco'), voc_det=(write_voc_detection, 'VOCdevkit'),
    ade20k=(write_ade20k, 'ade/ADEChallengeData2016'), voc_aug=(write_voc_aug, 'VOCdevkit/VOC2012'),
    coco_stuff164k=(write_coco_stuff164k, 'coco_stuff164k'))


def dataset_root(tmp_path_factory, kind: str) -> str:
    """The ``data_root`` of dataset ``kind`` (a key of :data:`WRITERS`), written once per test session.

    Args:
        tmp_path_factory: pytest's session-scoped ``tmp_path_factory``.
        kind: Which dataset.
    """
    writer, folder = WRITERS[kind]
    base = tmp_path_factory.getbasetemp() / f'transfer_{kind}'
    if not (base / '.complete').exists():
        writer(base / folder)
        (base / '.complete').touch()
    return str(base / folder)


def resnet50_backbone_file(tmp_path_factory) -> str:
    """A randomly initialised ``resnet50`` TimmStageBackbone exported as the configs expect, once per session.

    Args:
        tmp_path_factory: pytest's session-scoped ``tmp_path_factory``.
    """
    path = tmp_path_factory.getbasetemp() / 'transfer_resnet50_backbone.safetensors'
    if not path.exists():
        from mixskd_mm.export.backbone_file import save_backbone
        from mixskd_mm.models.backbones import TimmStageBackbone
        torch.manual_seed(0)
        backbone = TimmStageBackbone('resnet50', out_indices=(1, 2, 3, 4))
        save_backbone(backbone.state_dict(), str(path), backbone.export_metadata())
    return str(path)
