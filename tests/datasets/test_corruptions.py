"""The corruptions of mixskd_mm.datasets.corruptions: ImageNet-C's formulas and parameters, fixed by their seed."""
import numpy as np
import pytest
import torch

from mixskd_mm.datasets.corruptions import CORRUPTIONS, SEVERITIES, blur_sigma, corrupt, parameter


def _picture(side=32, seed=0):
    """A smooth picture with an edge and a texture (not noise: blur must change it, and more at higher severity)."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing='ij')
    base = 60 + 3 * xx + 40 * ((yy + xx) % 2) + (yy > side // 2) * 30
    tint = torch.randint(-10, 10, (3, 1, 1), generator=gen)
    return (base[None] + tint).clamp(0, 255).to(torch.uint8)


@pytest.mark.parametrize('name', CORRUPTIONS)
def test_every_corruption_is_fixed_by_its_seed_and_grows_with_severity(name):
    image = _picture()
    change = []
    for severity in SEVERITIES:
        out = corrupt(image, name, severity, seed=7)
        assert out.dtype == torch.uint8 and out.shape == image.shape
        assert torch.equal(out, corrupt(image, name, severity, seed=7))  # byte-identical on every call
        change.append((out.double() - image.double()).abs().mean().item())
    assert change[0] > 0 and change[0] < change[1] < change[2], change


def test_noise_follows_its_seed_and_imagenet_c_sigma():
    image = torch.full((3, 64, 64), 128, dtype=torch.uint8)
    a, b = corrupt(image, 'gaussian_noise', 3, seed=1), corrupt(image, 'gaussian_noise', 3, seed=2)
    assert not torch.equal(a, b)  # another image index: another draw
    assert (a.double() / 255 - 128 / 255).std().item() == pytest.approx(0.18, rel=0.05)  # c at severity 3


def test_brightness_and_contrast_are_imagenet_c_formulas():
    image = torch.tensor([[[0, 51]], [[0, 102]], [[0, 204]]], dtype=torch.uint8)  # a black and a blue-ish pixel
    out = corrupt(image, 'brightness', 5)  # V + 0.5 in HSV: V = 0.8 -> 1.0, hue and saturation kept
    assert out[:, 0, 0].tolist() == [128, 128, 128]  # black becomes grey c
    assert out[:, 0, 1].tolist() == [64, 128, 255]  # each channel scaled by 1.0 / 0.8
    grey = torch.tensor([[[100, 200]]] * 3, dtype=torch.uint8)
    # (x - 150) * 0.4 + 150; torchvision's grey weights sum to 0.9999 and it truncates to uint8: 1 below
    assert corrupt(grey, 'contrast', 1)[0, 0].tolist() == pytest.approx([130, 170], abs=1)


def test_blur_sigma_uses_the_authors_tables_at_their_sizes():
    assert [blur_sigma(s, 224) for s in (1, 3, 5)] == [parameter('gaussian_blur', s) for s in (1, 3, 5)] == [1, 3, 6]
    assert [blur_sigma(s, 32) for s in (1, 3, 5)] == [0.4, 0.7, 1.0]  # CIFAR-10-C's
    assert blur_sigma(1, 32) < blur_sigma(1, 100) < blur_sigma(1, 224) and blur_sigma(5, 448) == 12.0


def test_bad_input_is_refused_with_the_choices():
    with pytest.raises(ValueError, match='choose from gaussian_noise'):
        corrupt(_picture(), 'fog', 1)
    with pytest.raises(ValueError, match='1..5'):
        corrupt(_picture(), 'jpeg', 6)
    with pytest.raises(ValueError, match='uint8 Tensor'):
        corrupt(torch.zeros(3, 8, 8), 'jpeg', 1)


def test_jpeg_is_lossy_and_deterministic():
    image = _picture(seed=3)
    out = corrupt(image, 'jpeg', 5)
    assert not torch.equal(out, image) and torch.equal(out, corrupt(image, 'jpeg', 5, seed=99))
    assert np.abs(out.numpy().astype(int) - image.numpy()).mean() > np.abs(
        corrupt(image, 'jpeg', 1).numpy().astype(int) - image.numpy()).mean()
