"""The composed transfer scenes: held-out objects only, boxes equal to mask extents, COCO and label maps, seeded."""
import gzip
import hashlib
import json
import os
import struct

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mixskd_mm.datasets import FashionMNIST
from mixskd_mm.datasets import scenes as cs
from mixskd_mm.datasets.sampling import balanced_subset

NUM_PER_CLASS = 3  # the "pretraining subset" of the fake data below


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f'>{array.ndim}I', *array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture(scope='module')
def object_root(tmp_path_factory):
    """A fake Fashion-MNIST whose 80 training images (8 per class) are distinct blobs on black; 10 test images."""
    root = tmp_path_factory.mktemp('objects')
    rng = np.random.default_rng(0)
    for prefix, num in (('train', 80), ('t10k', 10)):
        images = np.zeros((num, 28, 28), dtype=np.uint8)
        for i in range(num):
            h, w = rng.integers(8, 24, 2)
            y, x = rng.integers(0, 28 - h), rng.integers(0, 28 - w)
            images[i, y:y + h, x:x + w] = rng.integers(60, 256, (h, w))  # every blob pixel above the threshold
            images[i, y + h // 2, x:x + w] = 10  # a dark line: a gap in the mask, as dark parts of clothes make
        _write_idx(str(root / f'{prefix}-images-idx3-ubyte.gz'), images)
        _write_idx(str(root / f'{prefix}-labels-idx1-ubyte.gz'), np.arange(num) % 10)
    return str(root)


def _write(root, out, seed=0, **kwargs):
    return cs.write_composed_dataset(str(out), data_root=root, num_per_class=NUM_PER_CLASS, subset_seed=7,
                                  num_train=6, num_val=3, seed=seed, **kwargs)


@pytest.fixture(scope='module')
def composed(object_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('composed')
    return _write(object_root, out), str(out)


def test_heldout_indices_are_the_complement_of_the_pretraining_subset():
    labels = np.repeat(np.arange(3), 5)
    held = cs.heldout_indices(labels, 2, seed=4)
    assert sorted(set(held) | set(balanced_subset(labels, 2, seed=4))) == list(range(15))
    assert not set(held) & set(balanced_subset(labels, 2, seed=4))
    assert set(labels[cs.heldout_indices(labels, 2, seed=4, class_ids=[1])]) == {1}


def test_split_pool_is_disjoint_and_per_class():
    labels = np.repeat(np.arange(2), 10)
    train, val = cs.split_pool(labels, np.arange(20), 0.3, seed=1)
    assert not set(train) & set(val) and len(train) + len(val) == 20
    assert np.bincount(labels[val]).tolist() == [3, 3]


def test_mask_box_is_exclusive_extent():
    mask = np.zeros((5, 6), dtype=bool)
    mask[1, 2] = mask[3, 4] = True
    assert cs.mask_box(mask) == (2, 1, 5, 4)


def test_compose_scene_masks_from_intensity_and_no_overlap():
    rng = np.random.default_rng(0)
    obj = np.zeros((28, 28), dtype=np.uint8)
    obj[5:20, 8:14] = 200
    background = np.full((64, 64, 3), 7, dtype=np.uint8)
    scene = cs.compose_scene(rng, background, [obj, obj, obj], [0, 1, 2], [10, 11, 12], scale_range=(1.0, 1.0))
    assert len(scene.masks) >= 2 and (background == 7).all()  # the background is copied, not painted
    total = np.sum(scene.masks, axis=0)
    assert total.max() == 1  # objects never overlap
    for mask, box in zip(scene.masks, scene.boxes):
        assert mask.sum() == 15 * 6 and box == cs.mask_box(mask)
        assert (scene.image[mask] == 200).all()
    assert (scene.image[total == 0] == 7).all()
    assert cs.label_map(scene)[scene.masks[1]].tolist() == [scene.labels[1] + 1] * 90


def test_objects_are_held_out_from_pretraining_and_split_between_train_and_val(composed, object_root):
    info, _ = composed
    labels = FashionMNIST(data_root=object_root, split='train').labels.numpy()
    pretraining = set(balanced_subset(labels, NUM_PER_CLASS, seed=7).tolist())
    train, val = set(info['sources']['train']), set(info['sources']['val'])
    assert train and val and not train & val
    assert not (train | val) & pretraining
    assert set(labels[sorted(train | val)]) <= set(cs.DEFAULT_CLASS_IDS)
    # the same images as the pretraining dataset itself holds: none of them is pasted
    subset = FashionMNIST(data_root=object_root, split='train', num_per_class=NUM_PER_CLASS, seed=7)
    full = FashionMNIST(data_root=object_root, split='train')
    seen = {hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in subset.images}
    pasted = {hashlib.sha1(full.images[i].numpy().tobytes()).hexdigest() for i in train | val}
    assert not seen & pasted


def test_coco_json_loads_and_boxes_equal_mask_extents(composed):
    info, out = composed
    assert info['classes'] == ['T-shirt/top', 'Trouser', 'Sandal', 'Bag', 'Ankle boot']
    for split in ('train', 'val'):
        coco = COCO(os.path.join(out, 'annotations', f'instances_{split}.json'))
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == info['classes']
        assert len(coco.getImgIds()) == info['counts'][split]['images']
        anns = coco.loadAnns(coco.getAnnIds())
        assert len(anns) == info['counts'][split]['objects'] > 0
        for ann in anns:
            mask = coco.annToMask(ann).astype(bool)
            x1, y1, x2, y2 = cs.mask_box(mask)
            assert ann['bbox'] == [x1, y1, x2 - x1, y2 - y1]
            assert mask_utils.toBbox(coco.annToRLE(ann)).tolist() == ann['bbox']
            assert ann['area'] == mask.sum() and ann['iscrowd'] == 0


def test_label_maps_match_the_coco_masks_and_images(composed):
    info, out = composed
    coco = COCO(os.path.join(out, 'annotations', 'instances_val.json'))
    for img in coco.loadImgs(coco.getImgIds()):
        labels = np.asarray(Image.open(os.path.join(out, 'labels', 'val', img['file_name'])))
        image = np.asarray(Image.open(os.path.join(out, 'images', 'val', img['file_name'])))
        assert labels.dtype == np.uint8 and labels.shape == image.shape[:2] == (128, 128)
        expected = np.zeros_like(labels)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img['id'])):
            mask = coco.annToMask(ann).astype(bool)
            expected[mask] = ann['category_id']
            grey = image[mask]
            assert (grey[:, 0] == grey[:, 1]).all() and (grey[:, 0] > 32).all()  # the object's own bright pixels
        assert np.array_equal(labels, expected)
        assert set(np.unique(labels)) <= set(range(len(info['classes']) + 1))


def _digest(folder):
    digest = hashlib.sha1()
    for base, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            digest.update(name.encode())
            with open(os.path.join(base, name), 'rb') as f:
                digest.update(f.read())
    return digest.hexdigest()


def test_seeded_determinism(object_root, composed, tmp_path):
    _, out = composed
    _write(object_root, tmp_path / 'again')
    _write(object_root, tmp_path / 'other', seed=1)
    assert _digest(tmp_path / 'again') == _digest(out)
    assert _digest(tmp_path / 'other') != _digest(out)


def test_meta_json_and_mm_datasets_read_the_files(composed):
    info, out = composed
    with open(os.path.join(out, 'meta.json')) as f:
        assert json.load(f)['source'] == info['source'] == 'fashion-mnist'
    from mmdet.datasets import CocoDataset
    det = CocoDataset(data_root=out, ann_file='annotations/instances_train.json', data_prefix=dict(img='images/train/'),
                      metainfo=dict(classes=tuple(info['classes'])), pipeline=[], test_mode=True)
    assert len(det) == info['counts']['train']['images']
    assert sum(len(det.get_data_info(i)['instances']) for i in range(len(det))) == info['counts']['train']['objects']
    from mmseg.datasets import BaseSegDataset
    seg = BaseSegDataset(data_root=out, data_prefix=dict(img_path='images/val', seg_map_path='labels/val'),
                         img_suffix='.png', seg_map_suffix='.png',
                         metainfo=dict(classes=('background', *info['classes'])))
    assert len(seg) == info['counts']['val']['images']
    assert seg.get_data_info(0)['seg_map_path'].endswith(os.path.join('labels', 'val', '00000.png'))
