"""Report each epoch's validation top-1 to an Optuna trial, and stop the run cleanly when its pruner says so."""
from __future__ import annotations

import json
import os.path as osp

from mmengine.hooks import Hook

from mixskd_mm.registry import HOOKS
from mixskd_mm.utils.atomic_io import atomic_write_bytes

#: the file a pruned run leaves in its work directory (what the tuning process reads to tell the study PRUNED)
PRUNED_MARKER = 'pruned.json'


def open_journal(path: str):
    """An Optuna journal storage on the file ``path``, which several processes may share (a file lock per append).

    Args:
        path: The journal file (created if missing).

    Returns:
        ``optuna.storages.JournalStorage``.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend
    return optuna.storages.JournalStorage(JournalFileBackend(path))


@HOOKS.register_module()
class OptunaPruningHook(Hook):
    """After every validation epoch, report the validation top-1 to one trial of an Optuna study; when the study's
    pruner says the trial is hopeless, leave :data:`PRUNED_MARKER` in the work directory and end training after this
    epoch (``train_loop.stop_training``: the checkpoint and the after-train hooks run as usual, the process exits 0).

    The run is a trial that another process asked for (``tools/compare.py --tune``); this hook only reports and asks.
    The last epoch is reported but never pruned: nothing would be saved by stopping it.

    Args:
        storage: The study's journal file (:func:`open_journal`).
        study_name: The study's name in it.
        trial_number: The trial's number in the study.
        pruner: Keyword arguments of ``optuna.pruners.MedianPruner`` (the pruner is not stored with a study, so the
            process that asks for trials passes the one it uses).
        metric: The validation metric reported (higher is better).

    Example:
        >>> hook = OptunaPruningHook('OUT/tune/journal.log', 'mixskd', 3, dict(n_startup_trials=2))
    """

    priority = 'LOW'

    def __init__(self, storage: str, study_name: str, trial_number: int, pruner: dict | None = None,
                 metric: str = 'accuracy/top1') -> None:
        self.storage = storage
        self.study_name = study_name
        self.trial_number = int(trial_number)
        self.pruner = dict(pruner or {})
        self.metric = metric
        self._trial = None

    def _open(self):
        """The trial, opened once: ``optuna.trial.Trial`` of the study loaded with :attr:`pruner`."""
        if self._trial is None:
            import optuna
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            storage = open_journal(self.storage)
            study = optuna.load_study(study_name=self.study_name, storage=storage,
                                      pruner=optuna.pruners.MedianPruner(**self.pruner))
            study_id = storage.get_study_id_from_name(self.study_name)
            self._trial = optuna.trial.Trial(
                study, storage.get_trial_id_from_study_id_trial_number(study_id, self.trial_number))
        return self._trial

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        if not metrics or runner.rank != 0:
            return
        if self.metric not in metrics:
            raise KeyError(f'OptunaPruningHook: the validation metrics hold no {self.metric!r} (they hold '
                           f'{sorted(metrics)}); set metric= to one of them')
        epoch, value = runner.epoch, float(metrics[self.metric])
        trial = self._open()
        trial.report(value, epoch)
        if epoch >= runner.max_epochs or not trial.should_prune():
            return
        marker = osp.join(runner.work_dir, PRUNED_MARKER)
        atomic_write_bytes(json.dumps(dict(epoch=epoch, value=value, trial=self.trial_number)).encode(), marker)
        runner.logger.info(f'Optuna pruned trial {self.trial_number} of {self.study_name!r} after epoch {epoch} '
                           f'({self.metric} {value:.2f}): training stops here')
        runner.train_loop.stop_training = True
