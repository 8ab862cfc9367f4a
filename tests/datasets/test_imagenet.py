import os
import re

import pytest
import torch
from mmengine.registry import init_default_scope
from torchvision.io import encode_png

from mixskd_mm.registry import DATASETS


def _build(**kwargs):
    init_default_scope('mixskd_mm')
    return DATASETS.build(dict(type='ImageNet', **kwargs))


def test_image_folder(imagenet_root):
    ds = _build(data_root=imagenet_root, split='train')
    assert ds.metainfo['classes'] == ('cat', 'dog', 'fish') and ds.num_classes == 3
    assert len(ds) == 5  # notes.txt is not an image
    assert [int(label) for label in ds.labels] == [0, 0, 1, 2, 2]
    item = ds[2]
    assert item['data_samples'] == 1
    assert item['inputs'].shape == (3, 18, 40) and item['inputs'].dtype == torch.uint8
    assert abs(item['inputs'].float().mean().item() - 50) < 3  # JPEG is lossy


def test_pipeline_makes_fixed_size(imagenet_root):
    ds = _build(data_root=imagenet_root, pipeline=[dict(type='Resize', size=16), dict(type='CenterCrop', size=16)])
    assert {tuple(ds[i]['inputs'].shape) for i in range(len(ds))} == {(3, 16, 16)}


def test_ann_file_and_class_file(imagenet_root):
    with open(os.path.join(imagenet_root, 'train.txt'), 'w') as f:
        f.write('fish/fish_1.png 2\n\ncat/cat_0.JPEG 0\n')
    with open(os.path.join(imagenet_root, 'classes.txt'), 'w') as f:
        f.write('tabby\nhound\ntrout\nextra\n')
    ds = _build(data_root=imagenet_root, split='train', ann_file='train.txt', classes='classes.txt')
    assert len(ds) == 2 and ds.num_classes == 4 and ds.metainfo['classes'][2] == 'trout'
    assert ds[0]['data_samples'] == 2 and ds[0]['inputs'].shape == (3, 16, 16)
    assert _build(data_root=imagenet_root, ann_file='train.txt').metainfo['classes'] == ('0', '1', '2')


def test_grey_png_decodes_as_rgb(imagenet_root):
    path = os.path.join(imagenet_root, 'train', 'dog', 'grey.png')
    with open(path, 'wb') as f:
        f.write(encode_png(torch.full((1, 5, 6), 77, dtype=torch.uint8)).numpy().tobytes())
    ds = _build(data_root=imagenet_root)
    image = ds[ds.paths.index(path)]['inputs']
    assert image.shape == (3, 5, 6) and image.unique().tolist() == [77]


def test_corrupt_image_error_names_file(imagenet_root):
    path = os.path.join(imagenet_root, 'train', 'dog', 'broken.jpg')
    with open(path, 'wb') as f:
        f.write(b'\xff\xd8\xff not really a jpeg')
    ds = _build(data_root=imagenet_root)
    with pytest.raises(RuntimeError, match='broken.jpg'):
        ds[ds.paths.index(path)]
    os.remove(path)
    with pytest.raises(FileNotFoundError, match='broken.jpg'):
        ds[ds.paths.index(path)]


def test_missing_folder_and_ann_file(tmp_path, imagenet_root):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'val'))):
        _build(data_root=str(tmp_path), split='val')
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        _build(data_root=imagenet_root, ann_file='missing.txt')
    os.makedirs(tmp_path / 'empty' / 'a')
    with pytest.raises(FileNotFoundError, match='No image'):
        _build(data_root=str(tmp_path / 'empty'), split='a')


def test_bad_ann_line(imagenet_root):
    with open(os.path.join(imagenet_root, 'bad.txt'), 'w') as f:
        f.write('cat/cat_0.JPEG zero\n')
    with pytest.raises(ValueError, match='bad.txt:1'):
        _build(data_root=imagenet_root, ann_file='bad.txt')
