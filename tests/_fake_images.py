"""Drawing and saving the tiny images, label maps and image lists that the fake transfer datasets are made of.

Every image is ``IMAGE_HW`` noise with a few flat-coloured rectangles on it; the boxes / label maps of the fake
datasets are those rectangles. Used by :mod:`_fake_detection` and :mod:`_fake_segmentation`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.io import encode_jpeg

#: (height, width) of every image written here
IMAGE_HW = (96, 128)

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2 / y2 exclusive


def random_boxes(rng: np.random.Generator, count: int = 2) -> list[Box]:
    """``count`` rectangles of 36..60 pixels a side inside an ``IMAGE_HW`` image.

    Args:
        rng: The generator the sizes and positions are drawn from.
        count: Number of rectangles.

    Returns:
        The rectangles as ``(x1, y1, x2, y2)``, ``x2`` / ``y2`` exclusive (they may overlap).
    """
    h, w = IMAGE_HW
    out = []
    for _ in range(count):
        bw, bh = (int(v) for v in rng.integers(36, 61, 2))
        x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        out.append((x1, y1, x1 + bw, y1 + bh))
    return out


def write_jpeg(path: Path, rng: np.random.Generator, boxes: Sequence[Box]) -> None:
    """Write an ``IMAGE_HW`` JPEG of noise with each box filled in one random colour, creating its folder.

    Args:
        path: The file to write.
        rng: The generator the noise and colours are drawn from.
        boxes: The rectangles to fill.
    """
    h, w = IMAGE_HW
    img = rng.integers(0, 256, (3, h, w), dtype=np.uint8)
    for x1, y1, x2, y2 in boxes:
        img[:, y1:y2, x1:x2] = rng.integers(0, 256, (3, 1, 1), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_jpeg(torch.from_numpy(img), quality=90).numpy().tobytes())


def label_map(boxes: Sequence[Box], labels: Sequence[int], background: int) -> np.ndarray:
    """``uint8 IMAGE_HW``: ``background`` outside the boxes, each box's label inside, 255 on the top two rows.

    Args:
        boxes: The rectangles; a later one paints over an earlier one.
        labels: The label of each rectangle.
        background: The label of every other pixel.

    Returns:
        The label map, with an ignored (255) border strip as annotation tools leave them.
    """
    seg = np.full(IMAGE_HW, background, dtype=np.uint8)
    for (x1, y1, x2, y2), label in zip(boxes, labels):
        seg[y1:y2, x1:x2] = label
    seg[:2] = 255
    return seg


def voc_palette() -> list[int]:
    """Pascal VOC's colour map: the bits of a label spread over the high bits of R, G and B (768 values)."""
    palette = []
    for label in range(256):
        rgb, bits = [0, 0, 0], label
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((bits >> channel) & 1) << shift
            bits >>= 3
        palette += rgb
    return palette


def write_png(path: Path, seg: np.ndarray, palette: bool = False) -> None:
    """Write a label map as a PNG, creating its folder.

    Args:
        path: The file to write.
        seg: ``uint8 [H, W]`` labels.
        palette: Write a palette PNG whose indices are the labels (VOC's ``SegmentationClass``) instead of grey.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette:
        img = Image.frombytes('P', (seg.shape[1], seg.shape[0]), seg.tobytes())
        img.putpalette(voc_palette())
    else:
        img = Image.fromarray(seg)
    img.save(path)


def write_list(path: Path, names: Sequence[str]) -> None:
    """Write one name a line (an ``ImageSets`` split file), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(n + '\n' for n in names))
