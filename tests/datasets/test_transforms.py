import pytest
import torch
from torchvision.transforms import v2

from mixskd_mm.datasets import build_pipeline, build_transform


def test_pipeline_keeps_uint8_chw():
    pipeline = build_pipeline([dict(type='RandomCrop', size=32, padding=4), dict(type='RandomHorizontalFlip')])
    assert isinstance(pipeline, v2.Compose)
    out = pipeline(torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8))
    assert out.shape == (3, 32, 32) and out.dtype == torch.uint8


def test_resize_is_antialiased_and_nested_configs_build():
    resize = build_transform(dict(type='Resize', size=16))
    assert resize.antialias is True
    apply = build_transform(dict(type='RandomApply', transforms=[dict(type='ColorJitter', brightness=0.4)], p=1.0))
    assert isinstance(apply.transforms[0], v2.ColorJitter)
    out = build_pipeline([dict(type='Resize', size=(8, 12))])(torch.zeros(1, 28, 28, dtype=torch.uint8))
    assert out.shape == (1, 8, 12) and out.dtype == torch.uint8


def test_empty_pipeline_is_identity_and_class_type_accepted():
    image = torch.arange(12, dtype=torch.uint8).view(3, 2, 2)
    assert torch.equal(build_pipeline([])(image), image)
    assert torch.equal(build_pipeline(None)(image), image)
    flip = build_transform(dict(type=v2.RandomHorizontalFlip, p=1.0))
    assert torch.equal(flip(image), image.flip(-1))


def test_unknown_name_lists_it():
    with pytest.raises(KeyError, match="'RandomCropz'.*Available:.*RandomCrop"):
        build_pipeline([dict(type='RandomCropz')])
    with pytest.raises(KeyError, match='"type"'):
        build_transform(dict(size=3))
