"""Painting the composed scenes: grey objects pasted without overlap on random crops of scikit-image photos.

Part of :mod:`mixskd_mm.datasets.scenes` (the demo's transfer data). Each object is
scaled, its mask is its own pixel intensity above a threshold, and its box is the extent of its mask. Every random
choice is drawn from the one generator passed in, so a seed gives the same scenes pixel for pixel.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

#: scikit-image photos and textures (all bundled with the package, no download) used as backgrounds
BACKGROUNDS = ('grass', 'gravel', 'brick', 'coffee', 'chelsea', 'astronaut', 'rocket', 'camera')

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels; x2 and y2 exclusive


@dataclass
class Scene:
    """One composed image and its objects.

    Attributes:
        image: ``uint8 [H, W, 3]`` RGB.
        masks: one ``bool [H, W]`` mask per object (objects never overlap).
        labels: class index of each object into the composed class list (0-based).
        boxes: ``(x1, y1, x2, y2)`` of each object, the extent of its mask (``x2``/``y2`` exclusive).
        sources: index of each object in the training split it was taken from.
    """

    image: np.ndarray
    masks: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)


def mask_box(mask: np.ndarray) -> Box:
    """The extent ``(x1, y1, x2, y2)`` of a non-empty mask, ``x2``/``y2`` exclusive."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def load_backgrounds(names: Sequence[str] = BACKGROUNDS) -> list[np.ndarray]:
    """The named ``skimage.data`` images as ``uint8 [H, W, 3]`` RGB (grey ones repeated to three channels)."""
    from skimage import data
    out = []
    for name in names:
        image = np.asarray(getattr(data, name)())
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        out.append(np.ascontiguousarray(image[..., :3], dtype=np.uint8))
    return out


def _background(rng: np.random.Generator, photos: Sequence[np.ndarray], size: int) -> np.ndarray:
    """A ``size`` x ``size`` crop of a random photo, rescaled by a random factor and flipped at random."""
    photo = photos[int(rng.integers(len(photos)))]
    short = min(photo.shape[:2])
    scale = float(rng.uniform(size / short, min(1.0, 3.0 * size / short)))
    h, w = max(size, round(photo.shape[0] * scale)), max(size, round(photo.shape[1] * scale))
    resized = np.asarray(Image.fromarray(photo).resize((w, h), Image.Resampling.BILINEAR))
    y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    crop = resized[y:y + size, x:x + size]
    return np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)


def _object(rng: np.random.Generator, image: np.ndarray, scale_range: tuple[float, float],
            threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale a grey object at random and crop it to its mask: ``(pixels uint8 [h, w], mask bool [h, w])``."""
    scale = float(rng.uniform(*scale_range))
    side = max(1, round(image.shape[0] * scale))
    pixels = np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR))
    mask = pixels > threshold
    if not mask.any():
        return pixels[:0, :0], mask[:0, :0]
    x1, y1, x2, y2 = mask_box(mask)
    return pixels[y1:y2, x1:x2], mask[y1:y2, x1:x2]


def compose_scene(rng: np.random.Generator, background: np.ndarray, objects: Sequence[np.ndarray],
                  labels: Sequence[int], sources: Sequence[int], scale_range: tuple[float, float] = (1.0, 2.0),
                  threshold: int = 32, min_pixels: int = 30, tries: int = 50) -> Scene:
    """Paste grey objects without overlap on a background; masks from intensity, boxes from masks.

    An object whose mask is smaller than ``min_pixels`` or that finds no free place in ``tries`` draws is skipped.

    Args:
        rng: The generator every random choice is drawn from.
        background: ``uint8 [H, W, 3]``; a copy is painted.
        objects: Grey ``uint8 [h, w]`` objects on black (Fashion-MNIST images).
        labels: Class index of each object in the scene's class list.
        sources: Index of each object in its split, kept in :attr:`Scene.sources`.
        scale_range: Objects are scaled by a factor drawn uniformly from this range.
        threshold: A pixel belongs to the object when its intensity exceeds this value.
        min_pixels: Smallest mask kept.
        tries: Placement attempts per object.

    Returns:
        The scene; its boxes equal the extents of its masks.
    """
    scene = Scene(image=background.copy())
    height, width = background.shape[:2]
    taken = np.zeros((height, width), dtype=bool)
    for obj, label, source in zip(objects, labels, sources):
        pixels, mask = _object(rng, obj, scale_range, threshold)
        h, w = mask.shape
        if mask.sum() < min_pixels or h > height or w > width:
            continue
        for _ in range(tries):
            y, x = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
            if not taken[max(0, y - 2):y + h + 2, max(0, x - 2):x + w + 2].any():  # 2 free pixels around boxes
                break
        else:
            continue
        full = np.zeros((height, width), dtype=bool)
        full[y:y + h, x:x + w] = mask
        taken[y:y + h, x:x + w] = True
        scene.image[full] = np.repeat(pixels[mask][:, None], 3, axis=1)
        scene.masks.append(full)
        scene.labels.append(int(label))
        scene.boxes.append(mask_box(full))
        scene.sources.append(int(source))
    return scene


def compose_scenes(images: np.ndarray, labels: np.ndarray, pool: np.ndarray, class_ids: Sequence[int],
                   backgrounds: Sequence[np.ndarray], num_scenes: int, seed: int, image_size: int = 128,
                   objects_per_image: tuple[int, int] = (2, 4), **paste_kwargs: Any) -> list[Scene]:
    """Compose ``num_scenes`` scenes from the objects ``images[pool]``, each object used once before any repeats.

    Args:
        images: Grey ``uint8 [N, 28, 28]`` objects of the whole split.
        labels: Their dataset labels.
        pool: Indices into ``images`` that may be pasted.
        class_ids: Dataset labels to paste; object label ``class_ids[k]`` becomes scene label ``k``.
        backgrounds: Photos to crop backgrounds from (:func:`load_backgrounds`).
        num_scenes: Number of scenes.
        seed: Seed of the generator.
        image_size: Side of the square scenes in pixels.
        objects_per_image: Inclusive range of the number of objects drawn per scene.
        **paste_kwargs: Passed to :func:`compose_scene` (``scale_range``, ``threshold``...).

    Returns:
        The scenes.
    """
    rng = np.random.default_rng(seed)
    to_scene_label = {int(c): k for k, c in enumerate(class_ids)}
    pool = np.asarray([i for i in pool if int(labels[i]) in to_scene_label], dtype=np.int64)
    if pool.size == 0:
        raise ValueError(f'no objects of classes {list(class_ids)} in the pool')
    order, cursor, scenes = rng.permutation(pool), 0, []
    for _ in range(num_scenes):
        count = int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))
        chosen = [int(order[(cursor + k) % order.size]) for k in range(count)]
        cursor += count
        scenes.append(compose_scene(rng, _background(rng, backgrounds, image_size), [images[i] for i in chosen],
                                    [to_scene_label[int(labels[i])] for i in chosen], chosen, **paste_kwargs))
    return scenes
