"""What a run's own files say: the scalars it logged, its speed, and the wall time and memory the comparison measured.

Used for pretraining runs and fine-tunes alike; everything is read back from the work directory, so ``--collect`` on
work directories a cluster filled reads the same numbers.
"""
from __future__ import annotations

import glob
import json
import os.path as osp
from collections.abc import Sequence

import numpy as np

from mixskd_mm.utils.atomic_io import atomic_write_bytes


def scalars(work_dir: str) -> list[dict]:
    """Every record of every ``scalars.json`` a run's attempts logged, oldest attempt first.

    Args:
        work_dir: The run's work directory.

    Returns:
        The records (``[]`` when nothing was logged yet).
    """
    records = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def last_value(records: Sequence[dict], key: str) -> float | None:
    """The last logged value of ``key``, or ``None``."""
    values = [r[key] for r in records if key in r]
    return float(values[-1]) if values else None


def train_speed(records: Sequence[dict], batch: int) -> dict[str, float | None]:
    """Seconds per iteration (median over the logged windows) and images/s from the training records' ``time``.

    Args:
        records: The run's records (:func:`scalars`).
        batch: Images per iteration.

    Returns:
        ``iter_seconds``, ``images_per_s`` and ``peak_gpu_mib`` (mmengine logs ``memory`` on CUDA only), ``None``
        where nothing was logged.
    """
    times = [r['time'] for r in records if 'lr' in r and 'time' in r]
    memory = [r['memory'] for r in records if 'lr' in r and 'memory' in r]
    times = times[1:] if len(times) > 2 else times  # the first window holds the start-up iterations
    mean = float(np.median(times)) if times else None
    return dict(iter_seconds=mean, images_per_s=batch / mean if mean else None,
                peak_gpu_mib=float(max(memory)) if memory else None)


def read_cost(work_dir: str) -> dict:
    """The wall time and peak memory the comparison measured for a run (``cost.json``), or ``{}``."""
    path = osp.join(work_dir, 'cost.json')
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def add_cost(work_dir: str, step: str, seconds: float, max_rss_mib: float) -> None:
    """Add one finished attempt's wall time and peak memory to the run's ``cost.json``."""
    cost = read_cost(work_dir)
    cost[f'{step}_seconds'] = round(cost.get(f'{step}_seconds', 0.0) + seconds, 2)
    cost['max_rss_mib'] = round(max(cost.get('max_rss_mib', 0.0), max_rss_mib), 1)
    atomic_write_bytes(json.dumps(cost, indent=1).encode(), osp.join(work_dir, 'cost.json'))
