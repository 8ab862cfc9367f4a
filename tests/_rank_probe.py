"""Test-only hook for distributed runs of tools/train.py (imported through ``custom_imports``, ``PYTHONPATH=tests``).

Every rank appends one JSON line per training iteration to ``WORK_DIR/probe_rank<R>.jsonl``: the iteration, the
model's ``mix_lam`` and its loss terms, as that rank computed them (MMEngine logs rank 0's values only). With
``RANK_PROBE_PAUSE_AT=N`` in the environment every rank writes its pid to ``WORK_DIR/paused_rank<R>`` and sleeps
before iteration N, so a test can kill the run at a known point mid-epoch.
"""
import json
import os
import time

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankProbeHook(Hook):
    """Record each rank's lam and losses; optionally stop every rank before a given iteration."""

    priority = 'VERY_LOW'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        pause_at = os.environ.get('RANK_PROBE_PAUSE_AT')
        if pause_at and runner.iter + 1 == int(pause_at):
            with open(os.path.join(runner.work_dir, f'paused_rank{get_rank()}'), 'w') as f:
                f.write(str(os.getpid()))
            time.sleep(600)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        record = {key: float(value) for key, value in outputs.items() if key == 'mix_lam' or 'loss' in key}
        record['iter'] = runner.iter + 1
        with open(os.path.join(runner.work_dir, f'probe_rank{get_rank()}.jsonl'), 'a') as f:
            f.write(json.dumps(record) + '\n')
