"""Before a run starts: do the folders and annotation files a config's datasets name exist?

MMDetection and MMSegmentation build their datasets lazily, so a missing folder surfaces minutes later
as a bare ``FileNotFoundError`` (or, for mmseg, as an empty dataset). :func:`check_data_paths` walks the
config's dataloaders first and fails with the path, the layout expected and where to get the data.
Our own datasets (CIFAR100, ImageNet, FashionMNIST) check their paths themselves when built.
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Iterator, Mapping

#: dataset type -> (expected layout, how to get the data)
LAYOUTS = {
    'CocoDataset': ('data/coco/{annotations/instances_train2017.json, annotations/instances_val2017.json, '
                    'train2017/*.jpg, val2017/*.jpg}',
                    'COCO 2017 from cocodataset.org (train/val images and the 2017 annotations)'),
    'VOCDataset': ('data/VOCdevkit/{VOC2007,VOC2012}/{Annotations/*.xml, JPEGImages/*.jpg, ImageSets/Main/*.txt}',
                   'PASCAL VOC 2007 trainval+test and 2012 trainval from the VOC challenge site'),
    'ADE20KDataset': ('data/ade/ADEChallengeData2016/{images,annotations}/{training,validation}/*',
                      'ADEChallengeData2016.zip (SceneParsing benchmark), unpacked into data/ade'),
    'PascalVOCDataset': ('data/VOCdevkit/VOC2012/{JPEGImages, SegmentationClass, SegmentationClassAug, '
                         'ImageSets/Segmentation/{train,val,aug}.txt}',
                         'VOC 2012 plus the SBD augmented masks, converted with mmseg\'s '
                         'tools/dataset_converters/voc_aug.py'),
    'COCOStuffDataset': ('data/coco_stuff164k/{images,annotations}/{train2017,val2017}/* '
                         '(annotations as *_labelTrainIds.png)',
                         'COCO 2017 images + stuffthingmaps_trainval2017.zip, converted with mmseg\'s '
                         'tools/dataset_converters/coco_stuff164k.py'),
}


def _datasets(cfg: object) -> Iterator[Mapping]:
    """Leaf dataset configs, looking through wrappers (RepeatDataset, ConcatDataset, ClassBalancedDataset)."""
    if not isinstance(cfg, Mapping):
        return
    inner = cfg.get('datasets') or ([cfg['dataset']] if 'dataset' in cfg else None)
    if inner:
        for sub in inner:
            yield from _datasets(sub)
    else:
        yield cfg


def _paths(ds: Mapping) -> list[str]:
    root = ds.get('data_root') or ''
    paths = [root] if root else []
    ann = ds.get('ann_file')
    if ann:
        paths.append(ann if osp.isabs(ann) else osp.join(root, ann))
    prefix = ds.get('data_prefix') or {}
    for key in ('img', 'img_path', 'seg_map_path', 'sub_data_root'):
        value = prefix.get(key) if isinstance(prefix, Mapping) else None
        if value:
            paths.append(value if osp.isabs(value) else osp.join(root, value))
    return paths


def check_data_paths(cfg: Mapping, splits=('train', 'val', 'test')) -> None:
    """Raise ``FileNotFoundError`` naming the first missing path of an mmdet/mmseg dataset in ``cfg``."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not isinstance(loader, Mapping):
            continue
        for ds in _datasets(loader.get('dataset')):
            kind = str(ds.get('type', '')).split('.')[-1]
            if kind not in LAYOUTS or str(ds.get('data_root', '')).startswith(('s3:', 'http')):
                continue
            for path in _paths(ds):
                if not osp.exists(path):
                    layout, source = LAYOUTS[kind]
                    raise FileNotFoundError(
                        f'{split} dataset {kind}: {path!r} does not exist. Expected layout: {layout}. '
                        f'Get the data: {source}; or point the config elsewhere with '
                        f'--cfg-options {split}_dataloader.dataset.data_root=PATH')
