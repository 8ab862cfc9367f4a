"""Tiny detection and segmentation datasets in their real on-disk layouts, a ResNet-50 backbone file, and the
``--cfg-options`` that point a transfer config at them and shrink its image sizes for a CPU.

Each writer produces the layout the mmdet / mmseg base configs expect under their ``data_root``:

- COCO detection: ``annotations/instances_{train,val}2017.json`` + ``{train,val}2017/*.jpg``;
- Pascal VOC detection: ``VOC2007`` and ``VOC2012`` with ``Annotations/*.xml``, ``JPEGImages/*.jpg`` and
  ``ImageSets/Main/{trainval,test}.txt``;
- ADE20K: ``images/{training,validation}/*.jpg`` + ``annotations/{training,validation}/*.png`` (0 = "other");
- Pascal VOC 2012 + SBD aug: ``JPEGImages``, ``SegmentationClass`` (palette PNGs), ``SegmentationClassAug``
  (grey PNGs), ``ImageSets/Segmentation/{train,val,aug}.txt``;
- COCO-Stuff-164K: ``images/{train,val}2017/*.jpg`` + ``annotations/{train,val}2017/*_labelTrainIds.png``.

Every image holds a few flat-coloured rectangles over noise; the boxes / label maps are those rectangles.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torchvision.io import encode_jpeg

#: (height, width) of every image written here
IMAGE_HW = (96, 128)
#: the Resize / RandomResize scale used in the tests, mm's (long side, short side)
TEST_SCALE = (128, 96)
#: the RandomCrop / Pad / data-preprocessor size of the segmentation tests
TEST_CROP = (64, 64)

# the 80 category ids of the COCO 2017 annotation files (1..90 with gaps)
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
VOC_DET_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
                   'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
                   'tvmonitor')

Box = Tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2 / y2 exclusive


def _boxes(rng: np.random.Generator, count: int = 2) -> List[Box]:
    """``count`` rectangles of 36..60 pixels a side inside an ``IMAGE_HW`` image."""
    h, w = IMAGE_HW
    out = []
    for _ in range(count):
        bw, bh = (int(v) for v in rng.integers(36, 61, 2))
        x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        out.append((x1, y1, x1 + bw, y1 + bh))
    return out


def _write_jpeg(path: Path, rng: np.random.Generator, boxes: Sequence[Box]) -> None:
    h, w = IMAGE_HW
    img = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes:
        img[:, y1:y2, x1:x2] = rng.integers(0, 256, (3, 1, 1), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_jpeg(torch.from_numpy(img), quality=90).numpy().tobytes())


def _label_map(boxes: Sequence[Box], labels: Sequence[int], background: int) -> np.ndarray:
    seg = np.full(IMAGE_HW, background, dtype=np.uint8)
    for (x1, y1, x2, y2), label in zip(boxes, labels):
        seg[y1:y2, x1:x2] = label
    seg[:2] = 255  # an ignored border strip, as annotation tools leave them
    return seg


def _voc_palette() -> List[int]:
    """Pascal VOC's colour map: the bits of a label spread over the high bits of R, G and B."""
    palette = []
    for label in range(256):
        rgb, bits = [0, 0, 0], label
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((bits >> channel) & 1) << shift
            bits >>= 3
        palette += rgb
    return palette


def _write_png(path: Path, seg: np.ndarray, palette: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette:  # VOC's SegmentationClass files are palette PNGs whose indices are the labels
        img = Image.frombytes('P', (seg.shape[1], seg.shape[0]), seg.tobytes())
        img.putpalette(_voc_palette())
    else:
        img = Image.fromarray(seg)
    img.save(path)


def _write_list(path: Path, names: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(n + '\n' for n in names))


# -- detection ------------------------------------------------------------------------------------------------
def write_coco_detection(root: Path, num_train: int = 4, num_val: int = 2) -> None:
    """COCO 2017 instance annotations (bbox + polygon) for ``num_train`` / ``num_val`` JPEGs."""
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
            boxes = _boxes(rng)
            _write_jpeg(root / split / file_name, rng, boxes)
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
    objects = ''.join(
        f'<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>'
        f'<bndbox><xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>'
        for (x1, y1, x2, y2), name in zip(boxes, names))
    return (f'<annotation><folder>{folder}</folder><filename>{file_name}</filename>'
            f'<size><width>{IMAGE_HW[1]}</width><height>{IMAGE_HW[0]}</height><depth>3</depth></size>'
            f'<segmented>0</segmented>{objects}</annotation>\n')


def write_voc_detection(root: Path) -> None:
    """``root`` is ``VOCdevkit``: VOC2007 (2 trainval + 2 test images) and VOC2012 (2 trainval images)."""
    rng = np.random.default_rng(2)
    splits = {'VOC2007': dict(trainval=['000005', '000007'], test=['000001', '000004']),
              'VOC2012': dict(trainval=['2008_000008', '2008_000015'])}
    for year, lists in splits.items():
        for split, ids in lists.items():
            _write_list(root / year / 'ImageSets' / 'Main' / f'{split}.txt', ids)
            for n, img_id in enumerate(ids):
                boxes = _boxes(rng)
                names = [VOC_DET_CLASSES[(n + k) % 3] for k in range(len(boxes))]
                _write_jpeg(root / year / 'JPEGImages' / f'{img_id}.jpg', rng, boxes)
                (root / year / 'Annotations').mkdir(parents=True, exist_ok=True)
                (root / year / 'Annotations' / f'{img_id}.xml').write_text(
                    _voc_xml(year, f'{img_id}.jpg', boxes, names))


# -- segmentation ---------------------------------------------------------------------------------------------
def _seg_sample(rng: np.random.Generator, image: Path, label: Path, classes: Sequence[int], background: int) -> None:
    boxes = _boxes(rng)
    _write_jpeg(image, rng, boxes)
    _write_png(label, _label_map(boxes, [int(rng.choice(classes)) for _ in boxes], background))


def write_ade20k(root: Path) -> None:
    """``root`` is ``ADEChallengeData2016``; labels 0 ("other", ignored by reduce_zero_label) and 1..150."""
    rng = np.random.default_rng(3)
    for split, tag in (('training', 'train'), ('validation', 'val')):
        for i in range(1, 3):
            name = f'ADE_{tag}_{i:08d}'
            _seg_sample(rng, root / 'images' / split / f'{name}.jpg', root / 'annotations' / split / f'{name}.png',
                        classes=(1, 2, 13, 150), background=0)


def write_voc_aug(root: Path) -> None:
    """``root`` is ``VOCdevkit/VOC2012`` after mmseg's ``tools/dataset_converters/voc_aug.py``."""
    rng = np.random.default_rng(4)
    train, extra, val = ['2007_000032', '2007_000039'], ['2008_000002', '2008_000003'], ['2007_000033', '2007_000042']
    for name in train + extra + val:
        boxes = _boxes(rng)
        seg = _label_map(boxes, [int(rng.choice((1, 8, 12, 15, 20))) for _ in boxes], background=0)
        _write_jpeg(root / 'JPEGImages' / f'{name}.jpg', rng, boxes)
        if name not in extra:  # the original VOC annotations
            _write_png(root / 'SegmentationClass' / f'{name}.png', seg, palette=True)
        if name not in val:  # SBD's, converted to grey PNGs
            _write_png(root / 'SegmentationClassAug' / f'{name}.png', seg)
    _write_list(root / 'ImageSets' / 'Segmentation' / 'train.txt', train)
    _write_list(root / 'ImageSets' / 'Segmentation' / 'val.txt', val)
    _write_list(root / 'ImageSets' / 'Segmentation' / 'aug.txt', train + extra)


def write_coco_stuff164k(root: Path) -> None:
    """``root`` is ``coco_stuff164k`` after mmseg's ``coco_stuff164k.py`` converter (train ids 0..170)."""
    rng = np.random.default_rng(5)
    for split, first in (('train2017', 9), ('val2017', 139)):
        for i in range(2):
            name = f'{first + i:012d}'
            _seg_sample(rng, root / 'images' / split / f'{name}.jpg',
                        root / 'annotations' / split / f'{name}_labelTrainIds.png', classes=(0, 5, 91, 170),
                        background=100)


#: dataset kind -> (writer, the folder the configs' ``data_root`` names)
WRITERS: Dict[str, Tuple[Callable[[Path], None], str]] = dict(
    coco=(write_coco_detection, 'coco'), voc_det=(write_voc_detection, 'VOCdevkit'),
    ade20k=(write_ade20k, 'ade/ADEChallengeData2016'), voc_aug=(write_voc_aug, 'VOCdevkit/VOC2012'),
    coco_stuff164k=(write_coco_stuff164k, 'coco_stuff164k'))


def dataset_root(tmp_path_factory, kind: str) -> str:
    """The ``data_root`` of dataset ``kind`` (a key of :data:`WRITERS`), written once per test session."""
    writer, folder = WRITERS[kind]
    base = tmp_path_factory.getbasetemp() / f'transfer_{kind}'
    if not (base / '.complete').exists():
        writer(base / folder)
        (base / '.complete').touch()
    return str(base / folder)


def resnet50_backbone_file(tmp_path_factory) -> str:
    """A randomly initialised ``resnet50`` TimmStageBackbone exported as the configs expect, once per session."""
    path = tmp_path_factory.getbasetemp() / 'transfer_resnet50_backbone.safetensors'
    if not path.exists():
        from mixskd_mm.export import module_metadata, save_backbone
        from mixskd_mm.models.backbones import TimmStageBackbone
        torch.manual_seed(0)
        backbone = TimmStageBackbone('resnet50', out_indices=(1, 2, 3, 4))
        save_backbone(backbone.state_dict(), str(path), module_metadata(backbone))
    return str(path)


# -- command-line overrides -----------------------------------------------------------------------------------
#: transform type -> (key, value) giving it CPU-sized images
_SHRINK = dict(Resize=('scale', TEST_SCALE), RandomResize=('scale', TEST_SCALE), RandomCrop=('crop_size', TEST_CROP),
               Pad=('size', TEST_CROP))


def _fmt(value) -> str:
    return str(value).replace(' ', '')


def walk_dicts(node, path: str):
    """Yield ``(dotted_path, dict)`` for every dict inside ``node`` (list items by index, as --cfg-options takes)."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk_dicts(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from walk_dicts(value, f'{path}.{i}')


def cpu_options(cfg: dict, data_root: str, backbone_file: str) -> List[str]:
    """``--cfg-options`` that run config ``cfg`` on the tiny data at ``data_root`` with ``backbone_file`` on a CPU.

    Only sizes and plumbing change: every dataset's ``data_root`` (a COCO evaluator's ``ann_file`` too), every
    Resize / RandomResize scale, crop and pad size (:data:`TEST_SCALE`, :data:`TEST_CROP`), one pass over a
    repeated dataset, 2 images per training batch, no worker processes, fewer region proposals and sampled RoIs.
    The models, losses, optimisers, norm layers and the transforms themselves stay those of the config.

    Args:
        cfg: the config as a plain dict (``Config.fromfile(path).to_dict()``).
        data_root: the tiny dataset's root, the folder the config's ``data_root`` names.
        backbone_file: the weights for ``model.backbone.init_cfg.checkpoint``.
    """
    opts = [f'model.backbone.init_cfg.checkpoint={backbone_file}', 'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2']
    for split in ('train', 'val', 'test'):
        loader = f'{split}_dataloader'
        opts += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
        for path, node in walk_dicts(cfg[loader]['dataset'], f'{loader}.dataset'):
            if 'data_root' in node:
                opts.append(f'{path}.data_root={data_root}')
            if node.get('type') in _SHRINK:
                key, value = _SHRINK[node['type']]
                opts.append(f'{path}.{key}={_fmt(value)}')
            if node.get('type') == 'RepeatDataset':
                opts.append(f'{path}.times=1')
        evaluator, old_root = cfg.get(f'{split}_evaluator', {}), cfg[loader]['dataset'].get('data_root')
        ann_file = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
        if ann_file and old_root and ann_file.startswith(old_root):  # CocoMetric reads the ground truth itself
            opts.append(f'{split}_evaluator.ann_file={os.path.join(data_root, ann_file[len(old_root):])}')
    for key in ('train_cfg', 'test_cfg'):  # fewer proposals / sampled RoIs: the cost of two-stage heads on a CPU
        for path, node in walk_dicts(cfg['model'].get(key) or {}, f'model.{key}'):
            for name, cap in (('nms_pre', 200), ('max_per_img', 100)):
                if isinstance(node.get(name), int) and node[name] > cap:
                    opts.append(f'{path}.{name}={cap}')
            if isinstance(node.get('sampler'), dict) and node['sampler'].get('num', 0) > 32:
                opts.append(f'{path}.sampler.num=32')
    if 'size' in cfg['model'].get('data_preprocessor', {}):
        opts.append(f'model.data_preprocessor.size={_fmt(TEST_CROP)}')
    return opts


# -- running and reading back ---------------------------------------------------------------------------------
#: one OpenMP thread per training subprocess: on a busy 2-core machine two threads wait on each other and a
#: ResNet-50 training step gets more than 10x slower (measured: 5 s instead of 0.35 s at 2x3x96x128)
ONE_THREAD = {'OMP_NUM_THREADS': '1'}


def scalars(work_dir) -> List[dict]:
    """The records of the run's ``vis_data/scalars.json`` (one per logged train iteration / evaluation)."""
    logs = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    assert logs, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in logs[-1].read_text().splitlines() if line.strip()]


def backbone_load_report(log: str) -> Tuple[int, int]:
    """``(matched, total)`` from the backbone's ``loaded FILE: M/N tensors matched`` line in a run's output."""
    found = re.findall(r'loaded \S+\.safetensors: (\d+)/(\d+) tensors matched', log)
    assert found, 'the backbone weights were not loaded (no "tensors matched" line in the log)'
    return int(found[-1][0]), int(found[-1][1])


@contextlib.contextmanager
def one_torch_thread():
    """In-process training with one intra-op thread (see :data:`ONE_THREAD`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
