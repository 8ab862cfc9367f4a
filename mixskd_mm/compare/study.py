"""A comparison's runs: what they are, where they live, which are finished, and how to run or resume the rest.

Layout of ``--out``::

    settings.json                       the settings the folder was started with (a changed setting is refused)
    data/                               classes.txt, {train,val,test}.txt, data.json (see compare.data)
    configs/NAME.py                     the config of one pretraining run (method, sweep variant, seed) or
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

import itertools
import json
import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from .configs import Pretraining, has_key, method_config, run_config


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


def parse_sweep(items: Sequence[str] | None) -> list[Variant]:
    """``['model.alpha=0.2,0.4', 'optim_wrapper.optimizer.lr=0.1,0.05']`` -> the grid of variants.

    Values are parsed as ``--cfg-options`` values are (numbers, booleans, strings).

    Args:
        items: ``KEY=V1,V2,...`` strings.

    Returns:
        One :class:`Variant` per grid point (``[Variant()]``, the defaults, without a sweep).

    Raises:
        ValueError: for an item without ``=`` or without values.

    Example:
        >>> [v.as_dict() for v in parse_sweep(['model.alpha=0.2,1'])]
        [{'model.alpha': 0.2}, {'model.alpha': 1}]
    """
    from mixskd_mm.engine.runner_setup import parse_cfg_options
    axes = []
    for item in items or []:
        key, sep, values = item.partition('=')
        if not sep or not key or not values.strip(','):
            raise ValueError(f'--sweep {item!r}: expected KEY=V1,V2,... (for example model.alpha=0.2,0.4,1.0)')
        axes.append([(key, parse_cfg_options([f'{key}={v}'])[key]) for v in values.split(',') if v])
    return [Variant(tuple(point)) for point in itertools.product(*axes)] if axes else [Variant()]


# -- runs ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One point of the sweep: the config keys it sets and their values (none: the method's defaults).

    Attributes:
        overrides: ``((dotted.key, value), ...)`` in the order of the ``--sweep`` options.
        name: The tag of a variant named as a whole (``'tuned'``: the setting ``--tune`` chose), instead of one made
            of its values.
    """

    overrides: tuple[tuple[str, Any], ...] = ()
    name: str = ''

    def as_dict(self) -> dict[str, Any]:
        """``{dotted.key: value}``: what ``results.json`` records (as ``setting``) and the run's config applies."""
        return dict(self.overrides)

    @property
    def tag(self) -> str:
        """A file-name-safe tag (``model.alpha=0.2`` -> ``'alpha-0.2'``, or the variant's name); ``''`` for the
        defaults."""
        return self.name or '_'.join(f'{key.split(".")[-1]}-{value}' for key, value in self.overrides).replace('/', '-')


@dataclass(frozen=True)
class RunKey:
    """What tells one pretraining run of a comparison from the others (and names its folders).

    Attributes:
        method: The method (``compare.configs.METHODS``).
        variant: The sweep variant it trains (the defaults without a sweep, or when the swept keys do not apply).
        seed: Its seed.
    """

    method: str
    variant: Variant
    seed: int

    @property
    def name(self) -> str:
        """``METHOD[_TAG]_seedS``: the run's work directory and config file name."""
        tag = self.variant.tag
        return f'{self.method}{"_" + tag if tag else ""}_seed{self.seed}'


def train_args(config: str, work_dir: str, amp: bool, resume: bool) -> list[str]:
    """The ``tools/train.py`` arguments of a run of ours (a pretraining run or a tuning trial)."""
    return (['tools/train.py', config, '--work-dir', work_dir] + (['--amp'] if amp else [])
            + (['--resume'] if resume else []))


@dataclass(frozen=True)
class PretrainRun:
    """One pretraining run of a comparison.

    Attributes:
        key: Its method, sweep variant and seed.
        work_dir: Its work directory (``out/runs/NAME``); its config is ``out/configs/NAME.py``.
        epochs: Training epochs (the final checkpoint is ``epoch_{epochs}.pth``).
        has_test: Whether a test split is evaluated after training.
        amp: Whether it trains with mixed precision (``tools/train.py --amp``).
    """

    key: RunKey
    work_dir: str
    epochs: int
    has_test: bool
    amp: bool = False

    @property
    def method(self) -> str:
        return self.key.method

    @property
    def seed(self) -> int:
        return self.key.seed

    @property
    def variant(self) -> Variant:
        return self.key.variant

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
        return train_args(self.config, self.work_dir, self.amp, resume)

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

    def command_lines(self) -> list[str]:
        """:meth:`commands` as shell lines (``python tools/train.py ...``)."""
        return [' '.join(['python', *command]) for command in self.commands()]


def plan_pretraining(out: str, methods: Sequence[str], seeds: Sequence[int], variants: Sequence[Variant], data: dict,
                     pretraining: Pretraining, data_dir: str | None = None,
                     epochs: Mapping[str, int] | None = None,
                     tuned: Mapping[str, Variant] | None = None) -> list[PretrainRun]:
    """Write each run's config (once) and return the runs, the longest methods first.

    Each method's config is built once (:func:`~mixskd_mm.compare.configs.method_config`); a run's is a copy with its
    seed, work directory and sweep variant, written unless the file exists (a rerun keeps what its runs trained).

    A sweep variant applies to a method when its config holds every swept key; a method it does not apply to runs
    once per seed, with its own defaults.

    Args:
        out: The comparison folder.
        methods: Methods to compare.
        seeds: Seeds, the same for every method.
        variants: Sweep variants from :func:`parse_sweep`.
        data: The data summary (``compare.data.prepare_data``).
        pretraining: The schedule every method shares.
        data_dir: The folder of the data's lists (default ``out/data``).
        epochs: The epochs of the methods that train longer than ``pretraining``'s (the compute-matched ones,
            :mod:`~mixskd_mm.compare.compute`): their whole schedule is stretched to them.
        tuned: Each method's own variant (the setting ``--tune`` chose), in place of ``variants``.

    Returns:
        The runs.
    """
    runs = []
    data_dir = data_dir or osp.join(out, 'data')
    for method in methods:
        schedule = replace(pretraining, epochs=(epochs or {}).get(method, pretraining.epochs))
        config = method_config(method, data, data_dir, schedule)
        points = [v for v in variants if v.overrides and all(has_key(config, key) for key, _ in v.overrides)]
        points = [tuned[method]] if tuned else points
        for variant, seed in itertools.product(points or [Variant()], seeds):
            key = RunKey(method, variant, seed)
            run = PretrainRun(key, osp.join(out, 'runs', key.name), schedule.epochs, data['has_test'],
                              amp=pretraining.amp)
            if not osp.isfile(run.config):
                atomic_write_bytes(run_config(config, seed, run.work_dir, variant.as_dict()).pretty_text.encode(),
                                   run.config)
            runs.append(run)
    return runs
