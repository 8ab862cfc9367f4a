"""Detection and segmentation scenes composed from held-out Fashion-MNIST objects pasted on real photos.

The demo's transfer data. Objects are Fashion-MNIST (or MNIST-5k) training images that the pretraining subset
does **not** contain: exactly the complement of :func:`~mixskd_mm.datasets.sampling.balanced_subset` with the
pretraining ``num_per_class`` and ``seed``, the same call :class:`~mixskd_mm.datasets.FashionMNIST` makes. Each
object is scaled, its mask is its own pixel intensity above a threshold, and it is pasted without overlap on a
random crop of a CC0 photo or texture that ships with scikit-image (``skimage.data``). Its box is the extent of
its mask. Everything is drawn from one seeded numpy generator, so a seed gives the same files byte for byte.

One call of :func:`write_composed_dataset` writes both forms of the same scenes::

    OUT/images/{train,val}/00000.png           RGB scenes
    OUT/annotations/instances_{train,val}.json  COCO instances: boxes [x, y, w, h] and masks as compressed RLE
    OUT/labels/{train,val}/00000.png           label maps: 0 background, k + 1 for class k
    OUT/meta.json                              classes, source, counts and the Fashion-MNIST indices used

This module chooses the objects (:func:`heldout_indices`, :func:`split_pool`) and writes the dataset; the
painting lives in :mod:`.painting` and the PNG / COCO writers in :mod:`.writers`.

Example:
    >>> info = write_composed_dataset('data/composed', num_train=8, num_val=4)  # doctest: +SKIP
    >>> info['classes'], info['source']  # doctest: +SKIP
    (['T-shirt/top', 'Trouser', 'Sandal', 'Bag', 'Ankle boot'], 'fashion-mnist')
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..sampling import balanced_subset
from .painting import BACKGROUNDS, compose_scenes, load_backgrounds
from .writers import write_split

#: Fashion-MNIST classes pasted by default: T-shirt/top, Trouser, Sandal, Bag, Ankle boot
DEFAULT_CLASS_IDS = (0, 1, 5, 8, 9)


def heldout_indices(labels: np.ndarray, num_per_class: int, seed: int = 0,
                    class_ids: Sequence[int] | None = None) -> np.ndarray:
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
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
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


def write_composed_dataset(out_dir: str, data_root: str = '/usr/share/datasets/fashion-mnist',
                           num_per_class: int = 500, subset_seed: int = 0,
                           class_ids: Sequence[int] = DEFAULT_CLASS_IDS, num_train: int = 400, num_val: int = 100,
                           image_size: int = 128, seed: int = 0, objects_per_image: tuple[int, int] = (2, 4),
                           scale_range: tuple[float, float] = (1.0, 2.0), threshold: int = 32,
                           backgrounds: Sequence[str] = BACKGROUNDS) -> dict:
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
    from mixskd_mm.datasets import FashionMNIST
    split = FashionMNIST(data_root=data_root, split='train')
    images, labels = split.images[:, 0].numpy(), split.labels.numpy()
    pool = heldout_indices(labels, num_per_class, subset_seed, class_ids)
    train_pool, val_pool = split_pool(labels, pool, num_val / (num_train + num_val), seed)
    photos = load_backgrounds(backgrounds)
    classes = [split.metainfo['classes'][c] for c in class_ids]
    kwargs: dict[str, Any] = dict(image_size=image_size, objects_per_image=objects_per_image,
                                  scale_range=scale_range, threshold=threshold)
    info: dict = dict(classes=classes, class_ids=list(class_ids), source=split.source, image_size=image_size,
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
