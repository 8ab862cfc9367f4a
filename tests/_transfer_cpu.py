"""Running a transfer config on a CPU: the ``--cfg-options`` that shrink it, one thread, and reading the run back."""
from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import torch

#: the Resize / RandomResize scale used in the tests, mm's (long side, short side)
TEST_SCALE = (128, 96)
#: the RandomCrop / Pad / data-preprocessor size of the segmentation tests
TEST_CROP = (64, 64)
#: one OpenMP thread per training subprocess: on a busy 2-core machine two threads wait on each other and a
#: ResNet-50 training step gets more than 10x slower (measured: 5 s instead of 0.35 s at 2x3x96x128)
ONE_THREAD = {'OMP_NUM_THREADS': '1'}

#: transform type -> (key, value) giving it CPU-sized images
_SHRINK = dict(Resize=('scale', TEST_SCALE), RandomResize=('scale', TEST_SCALE), RandomCrop=('crop_size', TEST_CROP),
               Pad=('size', TEST_CROP))


def _fmt(value) -> str:
    """``value`` as a ``--cfg-options`` value (no spaces)."""
    return str(value).replace(' ', '')


def walk_dicts(node, path: str):
    """Yield ``(dotted_path, dict)`` for every dict inside ``node`` (list items by index, as --cfg-options takes).

    Args:
        node: A config value (dicts, lists and tuples are walked into).
        path: The dotted path of ``node`` itself.
    """
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk_dicts(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from walk_dicts(value, f'{path}.{i}')


def cpu_options(cfg: dict, data_root: str, backbone_file: str) -> list[str]:
    """``--cfg-options`` that run config ``cfg`` on the tiny data at ``data_root`` with ``backbone_file`` on a CPU.

    Only sizes and plumbing change: every dataset's ``data_root`` (a COCO evaluator's ``ann_file`` too), every
    Resize / RandomResize scale, crop and pad size (:data:`TEST_SCALE`, :data:`TEST_CROP`), one pass over a
    repeated dataset, 2 images per training batch, no worker processes, fewer region proposals and sampled RoIs.
    The models, losses, optimisers, norm layers and the transforms themselves stay those of the config.

    Args:
        cfg: the config as a plain dict (``Config.fromfile(path).to_dict()``).
        data_root: the tiny dataset's root, the folder the config's ``data_root`` names.
        backbone_file: the weights for ``model.backbone.init_cfg.checkpoint``.
    """
    opts = [f'model.backbone.init_cfg.checkpoint={backbone_file}', 'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=2']
    for split in ('train', 'val', 'test'):
        loader = f'{split}_dataloader'
        opts += [f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
        for path, node in walk_dicts(cfg[loader]['dataset'], f'{loader}.dataset'):
            if 'data_root' in node:
                opts.append(f'{path}.data_root={data_root}')
            if node.get('type') in _SHRINK:
                key, value = _SHRINK[node['type']]
                opts.append(f'{path}.{key}={_fmt(value)}')
            if node.get('type') == 'RepeatDataset':
                opts.append(f'{path}.times=1')
        evaluator, old_root = cfg.get(f'{split}_evaluator', {}), cfg[loader]['dataset'].get('data_root')
        ann_file = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
        if ann_file and old_root and ann_file.startswith(old_root):  # CocoMetric reads the ground truth itself
            opts.append(f'{split}_evaluator.ann_file={os.path.join(data_root, ann_file[len(old_root):])}')
    for key in ('train_cfg', 'test_cfg'):  # fewer proposals / sampled RoIs: the cost of two-stage heads on a CPU
        for path, node in walk_dicts(cfg['model'].get(key) or {}, f'model.{key}'):
            for name, cap in (('nms_pre', 200), ('max_per_img', 100)):
                if isinstance(node.get(name), int) and node[name] > cap:
                    opts.append(f'{path}.{name}={cap}')
            if isinstance(node.get('sampler'), dict) and node['sampler'].get('num', 0) > 32:
                opts.append(f'{path}.sampler.num=32')
    if 'size' in cfg['model'].get('data_preprocessor', {}):
        opts.append(f'model.data_preprocessor.size={_fmt(TEST_CROP)}')
    return opts


@contextlib.contextmanager
def one_torch_thread():
    """In-process training with one intra-op thread (see :data:`ONE_THREAD`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def scalars(work_dir) -> list[dict]:
    """The records of the run's ``vis_data/scalars.json`` (one per logged train iteration / evaluation).

    Args:
        work_dir: The run's ``work_dir``; the newest timestamped run folder under it is read.
    """
    logs = sorted(Path(work_dir).glob('*/vis_data/scalars.json'))
    assert logs, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in logs[-1].read_text().splitlines() if line.strip()]


def backbone_load_report(log: str) -> tuple[int, int]:
    """``(matched, total)`` from the backbone's ``loaded FILE: M/N tensors matched`` line in a run's output.

    Args:
        log: The run's captured stdout / stderr.
    """
    found = re.findall(r'loaded \S+\.safetensors: (\d+)/(\d+) tensors matched', log)
    assert found, 'the backbone weights were not loaded (no "tensors matched" line in the log)'
    return int(found[-1][0]), int(found[-1][1])
