"""One tuning trial as a ``tools/train.py`` run: its config (validation only), its folders, and its outcome as its
own files tell it.

Layout of ``OUT/tune/``::

    journal.log                       the studies (Optuna's journal; several processes may append to it)
    configs/METHOD_trialK.py          trial K's config: the method's config at the trial's parameters, on the first
                                      seed, without test loader, evaluator or test_cfg, with OptunaPruningHook
    runs/METHOD_trialK/               its work directory (val_scores.npz; pruned.json when the pruner stopped it)
    logs/METHOD_trialK.log            tools/train.py's output
    heartbeats/, METHOD.lock          who runs what (compare.tune.studies)
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
from dataclasses import dataclass

from mixskd_mm.engine.hooks.optuna_pruning_hook import PRUNED_MARKER
from mixskd_mm.utils.atomic_io import atomic_write_bytes

from ..configs import has_key, method_config, run_config
from ..plan import Comparison
from ..results import score_metrics
from ..study import train_args
from .spaces import overrides, pruner_settings
from .studies import journal_path, tune_dir

#: the parts of a config that read the test split: never in a trial's
TEST_KEYS = ('test_dataloader', 'test_evaluator', 'test_cfg')


@dataclass(frozen=True)
class Outcome:
    """How a trial ended, read from its work directory.

    Attributes:
        pruned: Whether the pruner stopped it (:data:`~mixskd_mm.engine.hooks.optuna_pruning_hook.PRUNED_MARKER`).
        val_top1: Its validation top-1 (percent): of the last epoch trained, from ``val_scores.npz``, or the value
            the pruner judged, from the marker.
        epochs: The epochs it trained.
    """

    pruned: bool
    val_top1: float
    epochs: int


@dataclass(frozen=True)
class TrialRun:
    """Trial ``number`` of ``method``'s study in the comparison folder ``out``.

    Attributes:
        out: The comparison folder.
        method: The method.
        number: The trial's number in its study.
        epochs: The comparison's epochs.
        amp: Whether it trains with ``--amp``.
    """

    out: str
    method: str
    number: int
    epochs: int
    amp: bool = False

    @property
    def name(self) -> str:
        return f'{self.method}_trial{self.number}'

    @property
    def config(self) -> str:
        return osp.join(tune_dir(self.out), 'configs', f'{self.name}.py')

    @property
    def work_dir(self) -> str:
        return osp.join(tune_dir(self.out), 'runs', self.name)

    @property
    def log(self) -> str:
        return osp.join(tune_dir(self.out), 'logs', f'{self.name}.log')

    def train_args(self) -> list[str]:
        """``tools/train.py`` arguments; ``--resume`` where an earlier attempt left a checkpoint."""
        return train_args(self.config, self.work_dir, self.amp, osp.isfile(osp.join(self.work_dir, 'last_checkpoint')))

    def outcome(self) -> Outcome | None:
        """How the trial ended, or ``None`` while it has not (no marker, no exported backbone)."""
        marker = osp.join(self.work_dir, PRUNED_MARKER)
        if osp.isfile(marker):
            with open(marker) as f:
                pruned = json.load(f)
            return Outcome(True, float(pruned['value']), int(pruned['epoch']))
        scores = osp.join(self.work_dir, 'val_scores.npz')
        if osp.isfile(osp.join(self.work_dir, 'backbone.safetensors')) and osp.isfile(scores):
            return Outcome(False, score_metrics(scores, 1)['top1'], self.epochs)
        return None

    def drop_checkpoints(self) -> None:
        """Delete the checkpoints of a finished trial (its scores, logs and marker stay): N trials x a model's
        checkpoint would otherwise stay on disk for nothing."""
        for path in glob.glob(osp.join(self.work_dir, '*.pth')) + [osp.join(self.work_dir, 'last_checkpoint')]:
            if osp.isfile(path):
                os.remove(path)


def write_trial_config(comparison: Comparison, run: TrialRun, params: dict, trials: int) -> None:
    """Write the trial's config once (a resumed trial keeps its file): the method's config on the first seed at the
    trial's parameters, with no part that reads the test split (:data:`TEST_KEYS`) and with the pruning hook.

    Raises:
        ValueError: if a tuned key is not in the method's config (the space and ``compare.configs`` disagree).
    """
    if osp.isfile(run.config):
        return
    c = comparison
    config = method_config(run.method, dict(c.data), c.data_dir, c.pretraining)
    tuned = dict(overrides(run.method, params))
    missing = [key for key in tuned if not has_key(config, key)]
    if missing:
        raise ValueError(f'--tune: {run.method}\'s config has no {missing}; fix the space of {run.method} in '
                         f'mixskd_mm/compare/tune/spaces.py or the model entry in mixskd_mm/compare/configs.py')
    config = run_config(config, c.settings.seeds[0], run.work_dir, tuned)
    for key in TEST_KEYS:
        config.pop(key, None)
    hook = dict(type='OptunaPruningHook', storage=journal_path(c.out), study_name=run.method,
                trial_number=run.number, pruner=pruner_settings(trials, run.epochs))
    config.custom_hooks = [*config.get('custom_hooks', []), hook]
    atomic_write_bytes(config.pretty_text.encode(), run.config)
