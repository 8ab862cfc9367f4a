"""Detection and segmentation scenes composed from held-out Fashion-MNIST objects pasted on real photos.

The demo's transfer data. Objects are Fashion-MNIST (or MNIST-5k) training images that the pretraining subset
does **not** contain: exactly the complement of :func:`~mixskd_mm.datasets._sampling.balanced_subset` with the
pretraining ``num_per_class`` and ``seed``, the same call :class:`~mixskd_mm.datasets.FashionMNIST` makes. Each
object is scaled, its mask is its own pixel intensity above a threshold, and it is pasted without overlap on a
random crop of a CC0 photo or texture that ships with scikit-image (``skimage.data``). Its box is the extent of
its mask. Everything is drawn from one seeded numpy generator, so a seed gives the same files byte for byte.

One call of :func:`write_composed_dataset` writes both forms of the same scenes::

    OUT/images/{train,val}/00000.png           RGB scenes
    OUT/annotations/instances_{train,val}.json  COCO instances: boxes [x, y, w, h] and masks as compressed RLE
    OUT/labels/{train,val}/00000.png           label maps: 0 background, k + 1 for class k
    OUT/meta.json                              classes, source, counts and the Fashion-MNIST indices used

Example:
    >>> info = write_composed_dataset('data/composed', num_train=8, num_val=4)  # doctest: +SKIP
    >>> info['classes'], info['source']  # doctest: +SKIP
    (['T-shirt/top', 'Trouser', 'Sandal', 'Bag', 'Ankle boot'], 'fashion-mnist')
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ._sampling import balanced_subset

#: scikit-image photos and textures (all bundled with the package, no download) used as backgrounds
BACKGROUNDS = ('grass', 'gravel', 'brick', 'coffee', 'chelsea', 'astronaut', 'rocket', 'camera')
#: Fashion-MNIST classes pasted by default: T-shirt/top, Trouser, Sandal, Bag, Ankle boot
DEFAULT_CLASS_IDS = (0, 1, 5, 8, 9)

Box = Tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels; x2 and y2 exclusive


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
    masks: List[np.ndarray] = field(default_factory=list)
    labels: List[int] = field(default_factory=list)
    boxes: List[Box] = field(default_factory=list)
    sources: List[int] = field(default_factory=list)


def heldout_indices(labels: np.ndarray, num_per_class: int, seed: int = 0,
                    class_ids: Optional[Sequence[int]] = None) -> np.ndarray:
    """Training-split indices that the pretraining subset does not contain.

    Args:
        labels: Labels of the whole training split.
        num_per_class: ``num_per_class`` of the pretraining dataset.
        seed: ``seed`` of the pretraining dataset (the subset's seed, not the training seed).
        class_ids: Keep only these classes (``None``: all).

    Returns:
        Sorted indices outside ``balanced_subset(labels, num_per_class, seed)``.

    Example:
        >>> heldout_indices(np.array([0, 0, 0, 1, 1, 1]), 2, seed=0).size
        2
    """
    keep = np.ones(len(labels), dtype=bool)
    keep[balanced_subset(labels, num_per_class, seed)] = False
    if class_ids is not None:
        keep &= np.isin(labels, np.asarray(class_ids))
    return np.flatnonzero(keep)


def split_pool(labels: np.ndarray, pool: np.ndarray, val_fraction: float,
               seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Split ``pool`` per class into disjoint train and val parts, at least one object each where a class has two.

    Args:
        labels: Labels of the whole split.
        pool: Indices to split.
        val_fraction: Fraction of every class that goes to val (rounded, then clipped to ``[1, n - 1]``).
        seed: Seed of the shuffle.

    Returns:
        ``(train, val)`` indices, each sorted.

    Example:
        >>> [p.tolist() for p in split_pool(np.array([0, 0, 1, 1]), np.arange(4), 0.1)]
        [[1, 3], [0, 2]]
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in np.unique(labels[pool]):
        members = rng.permutation(pool[labels[pool] == cls])
        num_val = min(max(1, round(members.size * val_fraction)), members.size - 1) if members.size > 1 else 0
        val.append(members[:num_val])
        train.append(members[num_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def mask_box(mask: np.ndarray) -> Box:
    """The extent ``(x1, y1, x2, y2)`` of a non-empty mask, ``x2``/``y2`` exclusive."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def load_backgrounds(names: Sequence[str] = BACKGROUNDS) -> List[np.ndarray]:
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
    resized = np.asarray(Image.fromarray(photo).resize((w, h), Image.BILINEAR))
    y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    crop = resized[y:y + size, x:x + size]
    return np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)


def _object(rng: np.random.Generator, image: np.ndarray, scale_range: Tuple[float, float],
            threshold: int) -> Tuple[np.ndarray, np.ndarray]:
    """Scale a grey object at random and crop it to its mask: ``(pixels uint8 [h, w], mask bool [h, w])``."""
    scale = float(rng.uniform(*scale_range))
    side = max(1, round(image.shape[0] * scale))
    pixels = np.asarray(Image.fromarray(image).resize((side, side), Image.BILINEAR))
    mask = pixels > threshold
    if not mask.any():
        return pixels[:0, :0], mask[:0, :0]
    x1, y1, x2, y2 = mask_box(mask)
    return pixels[y1:y2, x1:x2], mask[y1:y2, x1:x2]


def compose_scene(rng: np.random.Generator, background: np.ndarray, objects: Sequence[np.ndarray],
                  labels: Sequence[int], sources: Sequence[int], scale_range: Tuple[float, float] = (1.0, 2.0),
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
                   objects_per_image: Tuple[int, int] = (2, 4), **paste_kwargs: object) -> List[Scene]:
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


def coco_dict(scenes: Sequence[Scene], file_names: Sequence[str], classes: Sequence[str]) -> Dict:
    """COCO instances of ``scenes``: boxes ``[x, y, w, h]``, compressed-RLE masks, mask areas, category ids 1..C."""
    from pycocotools import mask as mask_utils
    images, annotations = [], []
    for image_id, (scene, name) in enumerate(zip(scenes, file_names), start=1):
        height, width = scene.image.shape[:2]
        images.append(dict(id=image_id, file_name=name, height=height, width=width))
        for mask, label, (x1, y1, x2, y2) in zip(scene.masks, scene.labels, scene.boxes):
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id, category_id=label + 1, iscrowd=0,
                                    bbox=[float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                                    area=float(mask.sum()),
                                    segmentation=dict(size=[height, width], counts=rle['counts'].decode('ascii'))))
    categories = [dict(id=k + 1, name=name, supercategory='object') for k, name in enumerate(classes)]
    return dict(info=dict(description='Held-out Fashion-MNIST objects on scikit-image photos (mixskd_mm)'),
                licenses=[], images=images, annotations=annotations, categories=categories)


def label_map(scene: Scene) -> np.ndarray:
    """``uint8 [H, W]``: 0 for background, ``k + 1`` where an object of class ``k`` lies."""
    out = np.zeros(scene.image.shape[:2], dtype=np.uint8)
    for mask, label in zip(scene.masks, scene.labels):
        out[mask] = label + 1
    return out


def write_split(scenes: Sequence[Scene], out_dir: str, split: str, classes: Sequence[str]) -> str:
    """Write ``images/SPLIT/*.png``, ``labels/SPLIT/*.png`` and ``annotations/instances_SPLIT.json``.

    Returns:
        The annotation file's path relative to ``out_dir``.
    """
    names = [f'{i:05d}.png' for i in range(len(scenes))]
    for folder in ('images', 'labels', 'annotations'):
        os.makedirs(os.path.join(out_dir, folder, split) if folder != 'annotations' else
                    os.path.join(out_dir, folder), exist_ok=True)
    for scene, name in zip(scenes, names):
        Image.fromarray(scene.image).save(os.path.join(out_dir, 'images', split, name))
        Image.fromarray(label_map(scene)).save(os.path.join(out_dir, 'labels', split, name))
    ann_file = os.path.join('annotations', f'instances_{split}.json')
    with open(os.path.join(out_dir, ann_file), 'w') as f:
        json.dump(coco_dict(scenes, names, classes), f)
    return ann_file


def write_composed_dataset(out_dir: str, data_root: str = '/usr/share/datasets/fashion-mnist',
                           num_per_class: int = 500, subset_seed: int = 0,
                           class_ids: Sequence[int] = DEFAULT_CLASS_IDS, num_train: int = 400, num_val: int = 100,
                           image_size: int = 128, seed: int = 0, objects_per_image: Tuple[int, int] = (2, 4),
                           scale_range: Tuple[float, float] = (1.0, 2.0), threshold: int = 32,
                           backgrounds: Sequence[str] = BACKGROUNDS) -> Dict:
    """Compose train and val scenes from held-out training images and write them in COCO and label-map form.

    The held-out objects are split per class into disjoint train and val pools (in proportion to
    ``num_train : num_val``), so validation objects are seen neither in pretraining nor in fine-tuning.

    Args:
        out_dir: Output folder (see the module docstring for its layout).
        data_root: Fashion-MNIST IDX folder; MNIST-5k is used where it is missing, as the dataset does.
        num_per_class: The pretraining subset's ``num_per_class``; those images are excluded.
        subset_seed: The pretraining subset's ``seed``.
        class_ids: Dataset classes to paste.
        num_train: Training scenes.
        num_val: Validation scenes.
        image_size: Side of the square scenes.
        seed: Seed of every random choice here.
        objects_per_image: Inclusive range of objects per scene.
        scale_range: Range of the objects' scale factor (1 = 28 pixels).
        threshold: Intensity above which a pixel belongs to an object.
        backgrounds: ``skimage.data`` names of the background photos.

    Returns:
        What ``meta.json`` holds: ``classes``, ``source``, ``counts``, the annotation files (relative to
        ``out_dir``), the held-out pool sizes and the training-split indices of the pasted objects.
    """
    from .fashion_mnist import FashionMNIST
    split = FashionMNIST(data_root=data_root, split='train')
    images, labels = split.images[:, 0].numpy(), split.labels.numpy()
    pool = heldout_indices(labels, num_per_class, subset_seed, class_ids)
    train_pool, val_pool = split_pool(labels, pool, num_val / (num_train + num_val), seed)
    photos = load_backgrounds(backgrounds)
    classes = [split.metainfo['classes'][c] for c in class_ids]
    kwargs = dict(image_size=image_size, objects_per_image=objects_per_image, scale_range=scale_range,
                  threshold=threshold)
    info: Dict = dict(classes=classes, class_ids=list(class_ids), source=split.source, image_size=image_size,
                      pretrain_subset=dict(num_per_class=num_per_class, seed=subset_seed), seed=seed,
                      backgrounds=list(backgrounds), heldout_pool=dict(train=int(train_pool.size),
                                                                       val=int(val_pool.size)),
                      counts={}, ann_files={}, sources={})
    for offset, (name, part, count) in enumerate((('train', train_pool, num_train), ('val', val_pool, num_val))):
        scenes = compose_scenes(images, labels, part, class_ids, photos, count, seed + offset, **kwargs)
        info['ann_files'][name] = write_split(scenes, out_dir, name, classes)
        info['counts'][name] = dict(images=len(scenes), objects=sum(len(s.labels) for s in scenes))
        info['sources'][name] = sorted({i for s in scenes for i in s.sources})
    with open(os.path.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(info, f, indent=1)
    return info
