"""Fixtures shared across the suite: tiny datasets in their real on-disk formats, and running the tools."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from torchvision.io import encode_jpeg


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs ``-n``), share the cores: each worker and the tools it starts
    get cores // workers threads, so two workers on two cores do not fight over four threads."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '0'))
    if workers > 1:
        threads = max(1, len(os.sched_getaffinity(0)) // workers)
        os.environ.setdefault('OMP_NUM_THREADS', str(threads))
        torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))


def _groups(item) -> list[str]:
    """The item's pytest-xdist group: its ``xdist_group`` marks, or else its module when it uses a module-scoped
    fixture of that module (so the fixture is built once, on one worker, not once per worker its tests land on)."""
    marked = sorted({str(m.args[0] if m.args else m.kwargs.get('name', 'default'))
                     for m in item.iter_markers('xdist_group')})
    if marked:
        return marked
    info = getattr(item, '_fixtureinfo', None)  # a test function's; other items have none
    defs = [d for ds in info.name2fixturedefs.values() for d in ds] if info else []
    module = item.nodeid.split('::')[0]
    return [module] if any(d.scope == 'module' and d.baseid.startswith(module) for d in defs) else []


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """``make test`` runs ``--dist loadgroup``: tests of one group go to one worker. pytest-xdist 3.8 marks a group by
    a suffix on ``item._nodeid``, which pytest 9 no longer reads (it keeps the id in ``item._id``), so every group was
    split across workers and its shared fixtures built on each; the suffix is set here where pytest reads it."""
    if not getattr(config.option, 'loadgroup', False):  # set on pytest-xdist's workers under --dist loadgroup
        return
    from _pytest.nodeid import NodeId
    for item in items:
        groups = _groups(item)
        if groups and '@' not in item.nodeid:
            item._id = NodeId.parse(f'{item.nodeid}@{"_".join(groups)}')


@pytest.fixture(scope='session')
def fake_cifar100(tmp_path_factory) -> str:
    """``<root>/cifar-100-python/{train,test,meta}`` with 8 train and 4 test random images (release format)."""
    root = tmp_path_factory.mktemp('cifar100')
    folder = root / 'cifar-100-python'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, num in (('train', 8), ('test', 4)):
        batch = {b'data': rng.integers(0, 256, (num, 3072), dtype=np.uint8),
                 b'fine_labels': [int(v) for v in rng.integers(0, 100, num)], b'coarse_labels': [0] * num,
                 b'filenames': [f'{i}.png'.encode() for i in range(num)], b'batch_label': split.encode()}
        with open(folder / split, 'wb') as f:
            pickle.dump(batch, f, protocol=2)
    with open(folder / 'meta', 'wb') as f:
        pickle.dump({b'fine_label_names': [f'c{i}'.encode() for i in range(100)]}, f, protocol=2)
    return str(root)


@pytest.fixture(scope='session')
def fake_imagenet(tmp_path_factory) -> str:
    """``<root>/{train,val}/<wnid>/*.JPEG``: 2 classes, 2 real JPEGs each per split."""
    root = tmp_path_factory.mktemp('imagenet')
    gen = torch.Generator().manual_seed(0)
    for split in ('train', 'val'):
        for wnid in ('n01440764', 'n01443537'):
            os.makedirs(root / split / wnid)
            for i in range(2):
                img = torch.randint(0, 256, (3, 64, 80), dtype=torch.uint8, generator=gen)
                (root / split / wnid / f'{wnid}_{i}.JPEG').write_bytes(encode_jpeg(img).numpy().tobytes())
    return str(root)


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f'>{array.ndim}I', *array.shape)
    with gzip.open(path, 'wb') as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture(scope='session')
def fake_fashion_mnist(tmp_path_factory) -> str:
    """Fashion-MNIST's four gzipped IDX files with 40 train / 20 test random images of 10 classes."""
    root = tmp_path_factory.mktemp('fashion')
    rng = np.random.default_rng(0)
    for prefix, num in (('train', 40), ('t10k', 20)):
        _write_idx(str(root / f'{prefix}-images-idx3-ubyte.gz'), rng.integers(0, 256, (num, 28, 28)))
        _write_idx(str(root / f'{prefix}-labels-idx1-ubyte.gz'), np.arange(num) % 10)
    return str(root)
