"""The hooks tools/train.py adds to every config: sanity checks, non-finite losses, RNG state on resume."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from _helpers import ROOT, loader_opts, run_tool, tool_env
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mixskd_mm.engine.hooks import channel_problems

CE = 'configs/mixskd/ce_test-resnet_1xb64-10e_fashion-mnist.py'
MIXSKD = 'configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py'


def _opts(root, epochs, batch=20):
    opts = [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}', 'param_scheduler=[]',
            'default_hooks.logger.interval=1', 'train_dataloader.dataset.num_per_class=None']
    return opts + loader_opts(root, batch=batch)


def _losses(work_dir):
    out = {}
    for log in sorted(glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        for line in open(log):
            rec = json.loads(line)
            if 'loss' in rec:
                out[rec['iter']] = rec['loss']
    return out


def test_num_classes_mismatch_is_reported_with_the_fix(tmp_path, fake_fashion_mnist):
    proc = run_tool('tools/train.py', CE, '--work-dir', str(tmp_path), '--cfg-options',
                    *_opts(fake_fashion_mnist, 1), 'model.num_classes=7', check=False)
    assert proc.returncode != 0
    assert 'model.num_classes=7 but the training dataset FashionMNIST has 10 classes' in proc.stderr
    assert 'set model.num_classes=10' in proc.stderr


def test_neck_and_head_channel_mismatch_names_the_right_numbers(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text("_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'\n"
                    "model = dict(backbone=dict(_delete_=True, type='mixskd_mm.TimmStageBackbone', "
                    "model_name='resnet18'))\n")
    from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(str(path)).model)
    (problem,) = channel_problems(model)
    assert 'model.neck.in_channels=[256, 512, 1024, 2048]' in problem
    assert 'set model.neck.in_channels=[64, 128, 256, 512]' in problem


def test_non_finite_loss_stops_with_iteration_and_term(tmp_path, fake_fashion_mnist):
    proc = run_tool('tools/train.py', CE, '--work-dir', str(tmp_path), '--cfg-options',
                    *_opts(fake_fashion_mnist, 2), 'optim_wrapper.optimizer.lr=1e30', check=False)
    assert proc.returncode != 0
    assert 'non-finite loss at iteration' in proc.stderr and 'loss_ce=' in proc.stderr


def test_killed_run_resumes_with_the_losses_of_an_uninterrupted_run(tmp_path, fake_fashion_mnist):
    # validation after every epoch: the best checkpoint, and epoch_N.pth written again after it, must hold the
    # training generators, not validation's
    opts = _opts(fake_fashion_mnist, 3, batch=2) + ['randomness.deterministic=True', 'train_cfg.val_interval=1']
    full = tmp_path / 'full'
    run_tool('tools/train.py', MIXSKD, '--work-dir', str(full), '--cfg-options', *opts)
    expected = _losses(full)
    per_epoch = 20  # 40 images, 2 per batch
    assert sorted(expected) == list(range(1, 3 * per_epoch + 1))

    killed = tmp_path / 'killed'
    cmd = [sys.executable, 'tools/train.py', MIXSKD, '--work-dir', str(killed), '--cfg-options', *opts]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=tool_env())
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if max(_losses(killed), default=0) > per_epoch + 2:  # mid-epoch 2, after epoch_1.pth was written
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, 'the run ended before it could be killed mid-epoch'
    before_kill = _losses(killed)
    # determinism: the same seed gives the same first 20 losses
    assert [before_kill[i] for i in range(1, 21)] == [expected[i] for i in range(1, 21)]
    assert not os.path.exists(killed / 'epoch_2.pth')

    out = run_tool('tools/train.py', MIXSKD, '--work-dir', str(killed), '--resume', '--cfg-options', *opts)
    assert f'resumed epoch: 1, iter: {per_epoch}' in out.stdout + out.stderr
    resumed = _losses(killed)
    for it in range(per_epoch + 1, 3 * per_epoch + 1):
        assert resumed[it] == pytest.approx(expected[it], rel=1e-6, abs=1e-6), f'iteration {it}'


def test_validation_leaves_the_training_random_stream_untouched():
    """A validation between epochs (its data-loader iterator draws a seed from torch's RNG) must not shift the
    training draws after it, or a run resumed from the checkpoint written before that validation diverges."""
    import random

    import numpy as np
    import torch

    from mixskd_mm.engine.hooks.rng_state_hook import RNGStateHook
    hook = RNGStateHook()
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    expected = (torch.rand(3), np.random.rand(), random.random())
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    hook.before_val_epoch(None)
    torch.rand(5), np.random.rand(4), random.random()  # what validation draws
    hook.after_val_epoch(None, {})
    got = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]


class _Runner:
    """What RNGStateHook reads from a Runner when a checkpoint is loaded."""

    def __init__(self, diff_rank_seed=True):
        import logging
        self._resume = True
        self._randomness_cfg = dict(seed=0, diff_rank_seed=diff_rank_seed)
        self.logger = logging.getLogger('rng_state_test')


def _state_after(seed):
    import torch

    from mixskd_mm.engine.hooks.rng_state_hook import _states
    torch.manual_seed(seed)
    return _states()


@pytest.mark.parametrize('checkpoint_kind, diff_rank_seed, restored', [
    ('per_rank', True, 'rank1'),  # every rank takes its own entry
    ('single', True, None),  # one state, per-rank seeds: rank 1 keeps its fresh seed
    ('single', False, 'rank0'),  # one state, one seed for all ranks: every rank takes it (as before)
])
def test_each_rank_restores_its_own_generators(monkeypatch, checkpoint_kind, diff_rank_seed, restored):
    import torch

    from mixskd_mm.engine.hooks import rng_state_hook
    monkeypatch.setattr(rng_state_hook, 'get_dist_info', lambda: (1, 2))  # this process is rank 1 of 2
    states = {'rank0': _state_after(10), 'rank1': _state_after(11)}
    checkpoint = ({'rng_state': states['rank0'], 'rng_state_per_rank': [states['rank0'], states['rank1']]}
                  if checkpoint_kind == 'per_rank' else {'rng_state': states['rank0']})
    torch.manual_seed(12)
    fresh = torch.get_rng_state()
    rng_state_hook.RNGStateHook().after_load_checkpoint(_Runner(diff_rank_seed), checkpoint)
    expected = fresh if restored is None else states[restored]['torch']
    assert torch.equal(torch.get_rng_state(), expected)


def test_resumed_generators_survive_mmengines_reseed():
    """MMEngine re-seeds after loading when the checkpoint's seed differs from the config's (``seed=None``):
    the hook sets the resumed states again in ``before_train``."""
    import torch

    from mixskd_mm.engine.hooks.rng_state_hook import RNGStateHook
    saved = _state_after(5)
    hook = RNGStateHook()
    hook.after_load_checkpoint(_Runner(), {'rng_state': saved})
    torch.manual_seed(123)  # Runner.resume -> set_randomness(seed from the checkpoint)
    hook.before_train(None)
    assert torch.equal(torch.get_rng_state(), saved['torch'])


def test_states_are_gathered_where_every_rank_passes_before_a_save(monkeypatch):
    """Under DDP only rank 0 calls ``before_save_checkpoint``: the states come from the gather in an earlier hook
    every rank runs (here ``after_train_iter`` of an iteration-based CheckpointHook), and a save without a fresh
    gather keeps rank 0's state alone."""
    import types

    from mmengine.hooks import CheckpointHook

    from mixskd_mm.engine.hooks import rng_state_hook
    gathers = []
    monkeypatch.setattr(rng_state_hook, 'get_dist_info', lambda: (0, 2))
    monkeypatch.setattr(rng_state_hook, 'gather_object', lambda obj, dst: gathers.append(obj) or [obj, 'rank 1'])
    runner = types.SimpleNamespace(iter=3, max_iters=100, hooks=[CheckpointHook(interval=5, by_epoch=False)],
                                   logger=_Runner().logger)
    hook = rng_state_hook.RNGStateHook()
    hook.after_train_iter(runner, 3)  # iteration 4: no checkpoint, no gather
    assert not gathers
    runner.iter = 4
    hook.after_train_iter(runner, 4)  # iteration 5: CheckpointHook saves
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    assert len(gathers) == 1 and checkpoint['rng_state_per_rank'] == [gathers[0], 'rank 1']
    runner.iter = 5  # a save that no gather preceded
    stale = {}
    hook.before_save_checkpoint(runner, stale)
    assert 'rng_state_per_rank' not in stale and set(stale['rng_state']) >= {'python', 'numpy', 'torch'}
