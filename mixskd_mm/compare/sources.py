"""The sources a comparison reads: class folders (flat or split), an annotation file with its sibling splits, or the
embedded Fashion-MNIST written out as PNG class folders; and :class:`DataError`, raised for data that cannot be used.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Any

import numpy as np

from mixskd_mm.datasets.imagenet import annotation_lines, scan_class_folders

EMBEDDED = 'fashion-mnist'
SPLITS = ('train', 'val', 'test')
Samples = list[tuple[str, int]]


class DataError(ValueError):
    """The data given to the comparison cannot be used as it is; the message says why and what to do."""


# -- reading the sources ----------------------------------------------------------------------------------------
def _has_subfolders(folder: str) -> bool:
    return osp.isdir(folder) and any(e.is_dir() and not e.name.startswith('.') for e in os.scandir(folder))


def read_class_folders(root: str) -> tuple[list[str], dict[str, Samples], str]:
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


def _read_class_folders(root: str) -> tuple[list[str], dict[str, Samples], str]:
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


def _read_ann_lines(path: str) -> list[tuple[str, str]]:
    """``(absolute path, label field)`` of every non-empty line of an annotation file."""
    base = osp.dirname(osp.abspath(path))
    try:
        rows = [(osp.normpath(osp.join(base, rel)), label) for _, rel, label in annotation_lines(path)]
    except ValueError as err:
        raise DataError(str(err)) from None
    if not rows:
        raise DataError(f'annotation file {path} lists no image')
    return rows


def read_annotation_file(path: str) -> tuple[list[str], dict[str, Samples], str]:
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
    splits: dict[str, Samples] = {}
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


def write_embedded(out_dir: str, per_class: int, val_per_class: int, data_root: str | None = None,
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
    from mixskd_mm.datasets.sampling import balanced_subset
    done = osp.join(out_dir, '.complete')
    if osp.isfile(done):
        return out_dir
    kwargs: dict[str, Any] = dict(data_root=data_root) if data_root else {}
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
