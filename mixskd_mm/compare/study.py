"""A comparison's runs: what they are, where they live, which are finished, and how to run or resume the rest.

Layout of ``--out``::

    settings.json                       the settings the folder was started with (a changed setting is refused)
    data/                               classes.txt, {train,val,test}.txt, data.json (see compare.data)
    configs/NAME.py                     the config of one pretraining run (method, sweep setting, seed) or
                                        fine-tune (TASK_METHOD_seedS), as tools/train.py trains it
    runs/NAME/                          a pretraining run's work dir: checkpoints, logs, backbone.safetensors,
                                        val_scores.npz, test_scores.npz, cost.json
    transfer/TASK_METHOD_seedS/         a fine-tune's work dir
    logs/                               each tool's output, appended across attempts
    report.md, results.json, *.png      the report (compare.report, compare.plots)

A pretraining run is finished when its ``backbone.safetensors`` (written when training ends) and, with a test split,
its ``test_scores.npz`` exist; an unfinished one with a checkpoint is resumed with ``tools/train.py --resume``.
"""
from __future__ import annotations

import glob
import itertools
import json
import os.path as osp
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from .configs import has_key, method_config, run_config


class SettingsChanged(RuntimeError):
    """``--out`` holds a comparison started with other settings."""


# -- settings -----------------------------------------------------------------------------------------------------
def check_settings(out: str, settings: dict) -> None:
    """Refuse ``out`` if it was started with other settings (``out/settings.json``, see :func:`record_settings`).

    Args:
        out: The comparison folder.
        settings: Everything that decides what the runs compute (JSON-serialisable).

    Raises:
        SettingsChanged: naming every setting that differs, with both values.
    """
    path = osp.join(out, 'settings.json')
    if not osp.isfile(path):
        return
    with open(path) as f:
        old = json.load(f)
    if old != json.loads(json.dumps(settings)):
        diff = [f'  {key}: {old.get(key)!r} in {out}, now {settings.get(key)!r}'
                for key in sorted(set(old) | set(settings)) if old.get(key) != settings.get(key)]
        raise SettingsChanged(f'{out} holds a comparison with other settings; its finished runs would not be '
                              f'comparable with new ones:\n' + '\n'.join(diff)
                              + f'\nUse a new --out, or rerun with the settings recorded in {path}.')


def record_settings(out: str, settings: dict) -> None:
    """Write ``out/settings.json`` once the data were read, so a run refused for its data binds no settings."""
    path = osp.join(out, 'settings.json')
    if not osp.isfile(path):
        atomic_write_bytes(json.dumps(settings, indent=1, sort_keys=True).encode(), path)


def parse_sweep(items: Sequence[str] | None) -> list[dict]:
    """``['model.alpha=0.2,0.4', 'optim_wrapper.optimizer.lr=0.1,0.05']`` -> the grid of settings.

    Values are parsed as ``--cfg-options`` values are (numbers, booleans, strings).

    Args:
        items: ``KEY=V1,V2,...`` strings.

    Returns:
        One ``{key: value}`` dict per grid point (``[{}]`` without a sweep).

    Raises:
        ValueError: for an item without ``=`` or without values.

    Example:
        >>> parse_sweep(['model.alpha=0.2,1'])
        [{'model.alpha': 0.2}, {'model.alpha': 1}]
    """
    from mixskd_mm.engine.runner_setup import parse_cfg_options
    axes = []
    for item in items or []:
        key, sep, values = item.partition('=')
        if not sep or not key or not values.strip(','):
            raise ValueError(f'--sweep {item!r}: expected KEY=V1,V2,... (for example model.alpha=0.2,0.4,1.0)')
        axes.append([(key, parse_cfg_options([f'{key}={v}'])[key]) for v in values.split(',') if v])
    return [dict(point) for point in itertools.product(*axes)] if axes else [{}]


def setting_tag(setting: dict) -> str:
    """A file-name-safe tag of a sweep setting (``{'model.alpha': 0.2}`` -> ``'alpha-0.2'``); ``''`` for none."""
    return '_'.join(f'{key.split(".")[-1]}-{value}' for key, value in setting.items()).replace('/', '-')


# -- runs ---------------------------------------------------------------------------------------------------------
@dataclass
class PretrainRun:
    """One pretraining run of a comparison.

    Attributes:
        method: The method (``compare.configs.METHODS``).
        seed: Its seed.
        setting: The sweep setting it trains (``{}`` without a sweep, or when the swept keys do not apply).
        work_dir: Its work directory (``out/runs/NAME``); its config is ``out/configs/NAME.py``.
        epochs: Training epochs (the final checkpoint is ``epoch_{epochs}.pth``).
        has_test: Whether a test split is evaluated after training.
        amp: Whether it trains with mixed precision (``tools/train.py --amp``).
    """

    method: str
    seed: int
    setting: dict
    work_dir: str
    epochs: int
    has_test: bool
    amp: bool = False

    @property
    def name(self) -> str:
        return osp.basename(self.work_dir)

    @property
    def config(self) -> str:
        """``out/configs/NAME.py``: outside the work dir, where mmengine writes its own dump of the config."""
        return osp.join(osp.dirname(osp.dirname(self.work_dir)), 'configs', f'{self.name}.py')

    @property
    def backbone(self) -> str:
        return osp.join(self.work_dir, 'backbone.safetensors')

    @property
    def checkpoint(self) -> str:
        return osp.join(self.work_dir, f'epoch_{self.epochs}.pth')

    def train_args(self, resume: bool = False) -> list[str]:
        """``tools/train.py`` arguments (``--resume`` continues from the last checkpoint in the work dir)."""
        return (['tools/train.py', self.config, '--work-dir', self.work_dir] + (['--amp'] if self.amp else [])
                + (['--resume'] if resume else []))

    def test_args(self) -> list[str]:
        """``tools/test.py`` arguments: the test split, once, on the final checkpoint."""
        return ['tools/test.py', self.config, self.checkpoint, '--work-dir', osp.join(self.work_dir, 'test')]

    @property
    def trained(self) -> bool:
        return osp.isfile(self.backbone) and osp.isfile(osp.join(self.work_dir, 'val_scores.npz'))

    @property
    def tested(self) -> bool:
        return not self.has_test or osp.isfile(osp.join(self.work_dir, 'test_scores.npz'))

    @property
    def finished(self) -> bool:
        return self.trained and self.tested

    @property
    def resumable(self) -> bool:
        return osp.isfile(osp.join(self.work_dir, 'last_checkpoint'))

    def commands(self) -> list[list[str]]:
        """Every command this run needs from scratch, in order."""
        return [self.train_args()] + ([self.test_args()] if self.has_test else [])


def plan_pretraining(out: str, methods: Sequence[str], seeds: Sequence[int], sweep: Sequence[dict], data: dict,
                     settings: dict) -> list[PretrainRun]:
    """Write each run's config (once) and return the runs, the longest methods first.

    Each method's config is built once (:func:`~mixskd_mm.compare.configs.method_config`); a run's is a copy with its
    seed, work directory and sweep setting, written unless the file exists (a rerun keeps what its runs trained).

    A sweep setting applies to a method when its config holds every swept key; a method it does not apply to runs
    once per seed, with its own defaults.

    Args:
        out: The comparison folder.
        methods: Methods to compare.
        seeds: Seeds, the same for every method.
        sweep: Settings from :func:`parse_sweep`.
        data: The data summary (``compare.data.prepare_data``).
        settings: The pretraining settings (``model``, ``img_size``, ``epochs``, ``batch``, ``lr``, ``workers``,
            optionally ``channels_last`` and ``amp``).

    Returns:
        The runs.
    """
    runs = []
    data_dir = osp.join(out, 'data')
    for method in methods:
        config = method_config(method, data, data_dir, settings)
        points = [s for s in sweep if s and all(has_key(config, key) for key in s)] or [{}]
        for setting, seed in itertools.product(points, seeds):
            tag = setting_tag(setting)
            work_dir = osp.join(out, 'runs', f'{method}{"_" + tag if tag else ""}_seed{seed}')
            run = PretrainRun(method, seed, setting, work_dir, settings['epochs'], data['has_test'],
                              amp=bool(settings.get('amp')))
            if not osp.isfile(run.config):
                atomic_write_bytes(run_config(config, seed, work_dir, setting).pretty_text.encode(), run.config)
            runs.append(run)
    return runs


# -- results of one run -------------------------------------------------------------------------------------------
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
