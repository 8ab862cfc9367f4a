import os
import re

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from PIL import Image
from torchvision.io import encode_png

from mixskd_mm.datasets.imagenet import scan_class_folders
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


@pytest.mark.parametrize('line, message', [
    ('cat/cat_0.JPEG zero', "bad.txt:2: expected 'relative/path label' with a label index >= 0, got label 'zero'"),
    ('cat/cat_0.JPEG -1', "bad.txt:2: expected 'relative/path label' with a label index >= 0, got label '-1'"),
    ('cat/cat_0.JPEG', "bad.txt:2: expected 'relative/path label', got 'cat/cat_0.JPEG'"),
])
def test_bad_ann_line_names_the_line_and_what_is_wrong(imagenet_root, line, message):
    with open(os.path.join(imagenet_root, 'bad.txt'), 'w') as f:
        f.write(f'cat/cat_0.JPEG 0\n{line}\n')
    with pytest.raises(ValueError, match=re.escape(message)):
        _build(data_root=imagenet_root, ann_file='bad.txt')


def _write_png(path, value=90, shape=(6, 8)):
    """A constant RGB PNG, with the folders above it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(encode_png(torch.full((3, *shape), value, dtype=torch.uint8)).numpy().tobytes())


def test_val_lacking_a_train_class_keeps_train_numbering(imagenet_root):
    _write_png(os.path.join(imagenet_root, 'val', 'cat', 'c.png'))
    _write_png(os.path.join(imagenet_root, 'val', 'fish', 'f.png'))  # no val/dog: per-split numbering makes fish 1
    ds = _build(data_root=imagenet_root, split='val')
    assert ds.metainfo['classes'] == ('cat', 'dog', 'fish') and ds.num_classes == 3
    labels = {os.path.basename(path): label for path, label in zip(ds.paths, ds.labels)}
    assert labels == {'c.png': 0, 'f.png': 2}
    assert ds[ds.paths.index(os.path.join(imagenet_root, 'val', 'fish', 'f.png'))]['data_samples'] == 2


def test_val_class_missing_from_train_is_refused(imagenet_root):
    _write_png(os.path.join(imagenet_root, 'val', 'cat', 'c.png'))
    _write_png(os.path.join(imagenet_root, 'val', 'bird', 'b.png'))
    with pytest.raises(ValueError, match=r"training split has no class 'bird'") as info:
        _build(data_root=imagenet_root, split='val')
    message = str(info.value)
    assert os.path.join(imagenet_root, 'val', 'bird') in message and "'cat', 'dog', 'fish'" in message
    with pytest.raises(ValueError, match="'bird'"):
        scan_class_folders(os.path.join(imagenet_root, 'val'), classes=['cat', 'dog', 'fish'])


@pytest.mark.parametrize('empty_split', ['train', 'val'])
def test_empty_class_folder_is_refused(imagenet_root, empty_split):
    _write_png(os.path.join(imagenet_root, 'val', 'cat', 'c.png'))
    empty = os.path.join(imagenet_root, empty_split, 'dog' if empty_split == 'val' else 'eel')
    os.makedirs(os.path.join(empty, 'sub'))
    with open(os.path.join(empty, 'sub', 'readme.txt'), 'w') as f:
        f.write('no image at any depth')
    with pytest.raises(ValueError, match=re.escape(empty)) as info:
        _build(data_root=imagenet_root, split=empty_split)
    assert '.png' in str(info.value) and 'Remove the folder, or add images' in str(info.value)
    if empty_split == 'train':  # the training split's class list is checked for every split
        with pytest.raises(ValueError, match=re.escape(empty)):
            _build(data_root=imagenet_root, split='val')


def test_explicit_classes_map_by_name(imagenet_root):
    ds = _build(data_root=imagenet_root, classes=['fish', 'dog', 'cat'])
    assert ds.metainfo['classes'] == ('fish', 'dog', 'cat')
    labels = {os.path.basename(path): label for path, label in zip(ds.paths, ds.labels)}
    assert labels == {'fish_0.JPEG': 0, 'fish_1.png': 0, 'dog_0.JPEG': 1, 'cat_0.JPEG': 2, 'cat_1.png': 2}
    with open(os.path.join(imagenet_root, 'classes.txt'), 'w') as f:
        f.write('cat\ndog\nfish\neel\n')
    _write_png(os.path.join(imagenet_root, 'val', 'fish', 'f.png'))
    ds = _build(data_root=imagenet_root, split='val', classes='classes.txt')
    assert ds.num_classes == 4 and list(ds.labels) == [2]
    with pytest.raises(ValueError, match="no class 'fish'"):
        _build(data_root=imagenet_root, classes=['cat', 'dog'])


def test_scan_class_folders(imagenet_root):
    train = os.path.join(imagenet_root, 'train')
    _write_png(os.path.join(train, 'dog', 'deep', 'er', 'dog_2.PNG'))
    _write_png(os.path.join(train, '.cache', 'thumb.png'))  # hidden: not a class
    names, samples = scan_class_folders(train)
    assert names == ['cat', 'dog', 'fish']
    assert [(os.path.relpath(path, train), label) for path, label in samples] == [
        ('cat/cat_0.JPEG', 0), ('cat/cat_1.png', 0), ('dog/dog_0.JPEG', 1), ('dog/deep/er/dog_2.PNG', 1),
        ('fish/fish_0.JPEG', 2), ('fish/fish_1.png', 2)]
    names, samples = scan_class_folders(train, classes=['x', 'fish', 'cat', 'dog'], extensions=('.png',))
    assert names == ['x', 'fish', 'cat', 'dog'] and [label for _, label in samples] == [1, 2, 3]


def _pil_rgb(path):
    """What PIL's ``convert('RGB')`` makes of the file, as ``Tensor[3, H, W]``."""
    with Image.open(path) as image:
        return torch.from_numpy(np.array(image.convert('RGB'))).permute(2, 0, 1)


def _palette_image(rng, transparency=None):
    """A 6x7 palette image using all of 6 random colours (index 3 is the transparent one when asked)."""
    image = Image.fromarray(np.arange(42, dtype=np.uint8).reshape(6, 7) % 6, 'P')
    image.putpalette(rng.integers(0, 256, 18, dtype=np.uint8).tolist())
    if transparency is not None:
        image.info['transparency'] = transparency
    return image


_LOSSLESS = {'webp': dict(lossless=True, exact=True)}  # exact: keep the colour under a transparent pixel


def _make_image(kind, path, rng):
    """Write image ``kind`` to ``path``; return the expected RGB tensor and the tolerance (0 for lossless)."""
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    if kind == 'grey.png':
        Image.fromarray(grey, 'L').save(path)
    elif kind == 'grey_alpha.png':
        Image.fromarray(np.stack([grey, grey[::-1]], axis=2), 'LA').save(path)
    elif kind == 'bilevel.png':
        Image.fromarray(grey > 127).save(path)
    elif kind in ('rgb.png', 'rgb.webp', 'rgb.bmp', 'rgb.tif'):
        Image.fromarray(rgb, 'RGB').save(path, **_LOSSLESS.get(kind[-4:], {}))
    elif kind in ('rgba.png', 'rgba.webp'):
        rgba = np.concatenate([rgb, rng.integers(0, 256, (6, 7, 1), dtype=np.uint8)], axis=2)
        rgba[0, 0, 3] = 0  # fully transparent: its colour must survive (alpha dropped, not composited)
        Image.fromarray(rgba, 'RGBA').save(path, **_LOSSLESS.get(kind[-4:], {}))
        assert torch.equal(_pil_rgb(path), torch.from_numpy(rgb).permute(2, 0, 1))
    elif kind in ('palette.png', 'palette.bmp'):
        _palette_image(rng).save(path)
    elif kind in ('palette_transparent.png', 'palette_transparent.gif'):
        _palette_image(rng, transparency=3).save(path, transparency=3)
        with Image.open(path) as image:
            assert image.mode == 'P' and image.info['transparency'] is not None
    elif kind == 'animated.gif':  # the first frame is the image
        frames = [_palette_image(rng), _palette_image(rng)]
        frames[0].save(path, save_all=True, append_images=frames[1:])
        with Image.open(path) as image:
            assert image.n_frames == 2
    elif kind in ('grey16.png', 'grey16.tif'):  # 16-bit: the high byte (PIL's convert('RGB') clips at 255)
        grey16 = rng.integers(0, 65536, (6, 7), dtype=np.uint16)
        Image.fromarray(grey16).save(path)
        with Image.open(path) as image:
            assert image.mode.startswith('I;16')
        return torch.from_numpy((grey16 >> 8).astype(np.uint8)).expand(3, 6, 7), 0
    elif kind in ('grey.jpg', 'cmyk.jpg'):
        cmyk = np.concatenate([rgb, grey[:, :, None]], axis=2)
        image = Image.fromarray(grey, 'L') if kind == 'grey.jpg' else Image.fromarray(cmyk, 'CMYK')
        image.save(path, quality=95)
        return _pil_rgb(path), 2  # two JPEG decoders may round differently
    else:
        raise AssertionError(kind)
    return _pil_rgb(path), 0


@pytest.mark.parametrize('kind', [
    'grey.png', 'grey_alpha.png', 'bilevel.png', 'rgb.png', 'rgba.png', 'palette.png', 'palette_transparent.png',
    'grey16.png', 'grey.jpg', 'cmyk.jpg', 'rgb.webp', 'rgba.webp', 'rgb.bmp', 'palette.bmp', 'rgb.tif', 'grey16.tif',
    'palette_transparent.gif', 'animated.gif'])
def test_every_image_mode_loads_as_rgb_uint8(tmp_path, kind):
    os.makedirs(tmp_path / 'train' / 'a')
    path = str(tmp_path / 'train' / 'a' / kind)
    expected, tolerance = _make_image(kind, path, np.random.default_rng(sum(map(ord, kind))))
    ds = _build(data_root=str(tmp_path))
    assert ds.paths == [path]
    image = ds[0]['inputs']
    assert image.dtype == torch.uint8 and image.shape == (3, 6, 7)
    assert (image.int() - expected.int()).abs().max().item() <= tolerance


@pytest.mark.parametrize('kind', ['truncated.jpg', 'truncated.png', 'truncated.bmp', 'empty.png', pytest.param(
    'garbage.tif', marks=pytest.mark.filterwarnings('ignore:Corrupt EXIF data'))])
def test_corrupt_or_truncated_image_raises_naming_it(tmp_path, kind):
    os.makedirs(tmp_path / 'train' / 'a')
    path = str(tmp_path / 'train' / 'a' / kind)
    if kind.startswith('truncated'):
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            path, **({'format': 'JPEG'} if kind.endswith('jpg') else {}))
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 2])
    else:
        with open(path, 'wb') as f:
            f.write(b'II*\x00 not a tiff' if kind.startswith('garbage') else b'')
    ds = _build(data_root=str(tmp_path))
    with pytest.raises(RuntimeError, match=re.escape(path)):
        ds[0]
