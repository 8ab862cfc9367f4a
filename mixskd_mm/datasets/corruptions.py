"""Common image corruptions in the manner of ImageNet-C (Hendrycks and Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019), on uint8 ``Tensor[3, H, W]`` images.

Five corruptions, each at ImageNet-C's severities (:data:`PARAMETERS` holds its five values per corruption, as its
paper's code defines them), applied to the image the network receives (after the test pipeline's resize and crop), as
ImageNet-C corrupts the 224 px network input:

==================  ==============================================================================================
``gaussian_noise``  ``x + N(0, c)`` on the 0-1 scale, per pixel and channel, clipped (ImageNet-C's formula; the
                    noise is drawn from a generator seeded per image, so every call gives the same image)
``gaussian_blur``   a Gaussian blur by torchvision's ``gaussian_blur``, its sigma scaled to the image side: the
                    authors' own tables at their two sizes (ImageNet-C's at 224 px, CIFAR-10-C's at 32 px: plain
                    proportional scaling would make the lightest blur a no-op at 32 px), geometrically interpolated
                    between them and proportional beyond (:func:`blur_sigma`)
``brightness``      ImageNet-C's ``V + c`` in HSV, clipped at 1, hue and saturation kept: each pixel's channels are
                    scaled by ``min(V + c, 1) / V`` (``V``: its largest channel; a black pixel becomes grey ``c``)
``contrast``        ``(x - m) * c + m``, by torchvision's ``adjust_contrast`` (``m``: the mean of the grey image;
                    ImageNet-C takes each channel's mean: the same on grey images)
``jpeg``            JPEG at quality ``c``, by torchvision's ``jpeg`` (libjpeg)
==================  ==============================================================================================

Every corruption is a pure function of the image, the corruption, the severity and a seed.
"""
from __future__ import annotations

import math

import torch
from torchvision.transforms.v2 import functional as F

#: ImageNet-C's parameter ``c`` of each corruption at its severities 1..5 (its paper's code); for the blur, a sigma in
#: pixels at 224 px (:data:`SMALL_BLUR` gives CIFAR-10-C's at 32 px)
PARAMETERS: dict[str, tuple[float, ...]] = {
    'gaussian_noise': (0.08, 0.12, 0.18, 0.26, 0.38),
    'gaussian_blur': (1, 2, 3, 4, 6),
    'brightness': (0.1, 0.2, 0.3, 0.4, 0.5),
    'contrast': (0.4, 0.3, 0.2, 0.1, 0.05),
    'jpeg': (25, 18, 15, 10, 7),
}
CORRUPTIONS = tuple(PARAMETERS)
#: the severities evaluated by default: ImageNet-C's lightest, middle and heaviest (3 of its 5, for a third of the cost)
SEVERITIES = (1, 3, 5)
#: the side ImageNet-C's blur sigmas are given at
REFERENCE_SIDE = 224
#: CIFAR-10-C's blur sigmas at severities 1..5 (the same authors' code), at :data:`SMALL_SIDE` px
SMALL_BLUR = (0.4, 0.6, 0.7, 0.8, 1.0)
SMALL_SIDE = 32


def parameter(name: str, severity: int) -> float:
    """ImageNet-C's ``c`` of a corruption at a severity.

    Args:
        name: One of :data:`CORRUPTIONS`.
        severity: 1..5.

    Returns:
        The parameter.

    Raises:
        ValueError: for an unknown corruption or severity.
    """
    if name not in PARAMETERS:
        raise ValueError(f'unknown corruption {name!r}; choose from {", ".join(CORRUPTIONS)}')
    if not 1 <= severity <= len(PARAMETERS[name]):
        raise ValueError(f'severity {severity} of {name}: choose from 1..{len(PARAMETERS[name])}')
    return PARAMETERS[name][severity - 1]


def blur_sigma(severity: int, side: int) -> float:
    """The Gaussian blur's sigma in pixels on an image of ``side`` pixels.

    ImageNet-C's sigma at 224 px and CIFAR-10-C's at 32 px (the authors' two tables); between the two sizes the
    geometric interpolation ``s32 * (side / 32) ** b`` through both, and proportional to the side beyond them.

    Example:
        >>> blur_sigma(5, 224), blur_sigma(1, 32), round(blur_sigma(3, 64), 3), blur_sigma(1, 16)
        (6.0, 0.4, 1.176, 0.2)
    """
    large, small = parameter('gaussian_blur', severity), SMALL_BLUR[severity - 1]
    if side >= REFERENCE_SIDE:
        return large * side / REFERENCE_SIDE
    if side <= SMALL_SIDE:
        return small * side / SMALL_SIDE
    exponent = math.log(large / small) / math.log(REFERENCE_SIDE / SMALL_SIDE)
    return small * (side / SMALL_SIDE) ** exponent


def _noise(image: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    # torchvision's gaussian_noise draws from the global random stream: a generator of our own keeps it per image
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(image.shape, generator=generator, dtype=torch.float64) * sigma
    return _to_uint8(image.double() / 255 + noise)


def _brightness(image: torch.Tensor, shift: float) -> torch.Tensor:
    x = image.double() / 255
    value = x.amax(dim=0, keepdim=True)
    scaled = x * (torch.clamp(value + shift, max=1.0) / value.clamp(min=1e-12))
    return _to_uint8(torch.where(value > 0, scaled, torch.full_like(x, shift)))


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """0-1 floats -> uint8, clipped and rounded."""
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def corrupt(image: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """One corrupted copy of an image.

    Args:
        image: uint8 ``Tensor[3, H, W]`` (as the datasets yield it, after the test pipeline).
        name: One of :data:`CORRUPTIONS`.
        severity: ImageNet-C's severity, 1..5.
        seed: Seed of the random draw (only the noise draws; the others ignore it).

    Returns:
        The corrupted uint8 image, of the same shape.

    Raises:
        ValueError: for an image that is not uint8 ``[3, H, W]``, or an unknown corruption or severity.

    Example:
        >>> img = torch.full((3, 8, 8), 100, dtype=torch.uint8)
        >>> corrupt(img, 'brightness', 1)[0, 0, 0].item()  # V = 100/255 + 0.1, scaled back
        126
    """
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f'corrupt() takes a uint8 Tensor[3, H, W], got {image.dtype} {tuple(image.shape)}')
    c = parameter(name, severity)
    if name == 'gaussian_noise':
        return _noise(image, c, seed)
    if name == 'gaussian_blur':
        sigma = blur_sigma(severity, max(image.shape[1:]))
        size = 2 * max(1, math.ceil(4 * sigma)) + 1  # 4 sigma either side, as scikit-image's filter ImageNet-C used
        return F.gaussian_blur(image, [size, size], [sigma, sigma])
    if name == 'brightness':
        return _brightness(image, c)
    if name == 'contrast':
        return F.adjust_contrast(image, c)
    return F.jpeg(image, int(c))


__all__ = ['CORRUPTIONS', 'PARAMETERS', 'SEVERITIES', 'blur_sigma', 'corrupt', 'parameter']
