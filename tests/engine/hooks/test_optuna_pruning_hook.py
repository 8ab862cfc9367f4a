"""OptunaPruningHook inside a real MMEngine Runner (``RunnerTestCase``), reporting to a real Optuna study in a journal
file, as ``tools/compare.py --tune`` runs it: the value of each epoch reaches the trial, a hopeless trial stops after
the epoch the pruner judged (with its marker), a hopeful one and the last epoch are never stopped."""
import copy
import json
import os

import optuna
from mmengine.testing import RunnerTestCase

import mixskd_mm  # noqa: F401  (weights-only loading of the Runner's checkpoints)
from mixskd_mm.engine.hooks.optuna_pruning_hook import PRUNED_MARKER, OptunaPruningHook, open_journal

PRUNER = dict(n_startup_trials=1, n_warmup_steps=1)


class OptunaPruningHookTest(RunnerTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.journal = os.path.join(self.temp_dir.name, 'journal.log')
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(study_name='toy', storage=open_journal(self.journal), direction='maximize')

    def _finished_trial(self, per_epoch: float) -> None:
        """An earlier finished trial whose validation metric was ``per_epoch`` at every epoch."""
        dist = optuna.distributions.FloatDistribution(0.01, 1.0, log=True)
        self.study.add_trial(optuna.trial.create_trial(params=dict(lr=0.1), distributions=dict(lr=dist),
                                                       value=per_epoch,
                                                       intermediate_values={e: per_epoch for e in (1, 2, 3)}))

    def _train(self, max_epochs: int):
        """Train the toy model (ToyMetric: ``acc`` 1 every epoch) as a new trial; returns (runner, frozen trial)."""
        trial = self.study.ask()
        cfg = copy.deepcopy(self.epoch_based_cfg)
        cfg.work_dir = os.path.join(self.temp_dir.name, f'trial{trial.number}')
        cfg.train_cfg.max_epochs = max_epochs
        cfg.custom_hooks = [dict(type='mixskd_mm.OptunaPruningHook', storage=self.journal, study_name='toy',
                                 trial_number=trial.number, pruner=PRUNER, metric='acc')]
        runner = self.build_runner(cfg)
        runner.train()
        return runner, optuna.load_study(study_name='toy', storage=open_journal(self.journal)).trials[trial.number]

    def test_a_hopeless_trial_is_reported_and_stopped_after_the_epoch_judged(self):
        self._finished_trial(100.0)  # an earlier trial far ahead at every epoch: acc 1 is below its median
        runner, trial = self._train(3)
        assert runner.epoch == 1 and trial.intermediate_values == {1: 1.0}
        assert os.path.isfile(os.path.join(runner.work_dir, 'epoch_1.pth'))  # stopped cleanly, checkpoint kept
        assert not os.path.exists(os.path.join(runner.work_dir, 'epoch_2.pth'))
        with open(os.path.join(runner.work_dir, PRUNED_MARKER)) as f:
            assert json.load(f) == dict(epoch=1, value=1.0, trial=trial.number)
        assert trial.state == optuna.trial.TrialState.RUNNING  # telling the study is the asking process's job

    def test_a_hopeful_trial_reports_every_epoch_and_runs_to_the_end(self):
        self._finished_trial(0.5)  # behind: acc 1 is above the median
        runner, trial = self._train(3)
        assert runner.epoch == 3 and trial.intermediate_values == {1: 1.0, 2: 1.0, 3: 1.0}
        assert not os.path.exists(os.path.join(runner.work_dir, PRUNED_MARKER))

    def test_the_last_epoch_is_never_pruned(self):
        self._finished_trial(100.0)
        runner, trial = self._train(1)
        assert runner.epoch == 1 and trial.intermediate_values == {1: 1.0}
        assert not os.path.exists(os.path.join(runner.work_dir, PRUNED_MARKER))

    def test_a_missing_metric_is_named(self):
        hook = OptunaPruningHook(self.journal, 'toy', 0, PRUNER, metric='accuracy/top1')
        with self.assertRaisesRegex(KeyError, r"no 'accuracy/top1' \(they hold \['acc'\]\)"):
            hook.after_val_epoch(type('R', (), dict(rank=0))(), dict(acc=1.0))
