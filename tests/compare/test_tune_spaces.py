"""The search spaces of ``--tune`` against the configs they tune, a trial's config, and who may take a trial over."""
import os
import socket
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from mixskd_mm.compare import configs
from mixskd_mm.compare.configs import METHODS, has_key
from mixskd_mm.compare.tune import studies
from mixskd_mm.compare.tune.spaces import distributions, overrides, space
from mixskd_mm.compare.tune.trials import TEST_KEYS, TrialRun, write_trial_config

DATA = dict(classes=['a', 'b', 'c'], splits=dict(train=dict(images=30)), mean=[120.0] * 3, std=[60.0] * 3,
            has_test=True)
PRETRAINING = configs.Pretraining.on(DATA, model='test_resnet', img_size=32, epochs=4, batch=8, lr=0.1, workers=0)


@pytest.mark.parametrize('method', METHODS)
def test_every_tuned_key_is_in_its_methods_config(method, tmp_path):
    config = configs.method_config(method, DATA, str(tmp_path), PRETRAINING)
    assert [p for p in space(method) if not has_key(config, p.key)] == []
    assert distributions(method, 0.1)['lr'].low == pytest.approx(0.025)  # around the comparison's own lr


def test_mixskd_tunes_alpha_the_kd_temperature_and_every_loss_weight_but_ce():
    keys = {p.key for p in space('mixskd')}
    assert {'model.alpha', 'model.kd_loss.temperature', 'optim_wrapper.optimizer.lr'} <= keys
    assert {k for k in keys if k.endswith('loss_weight')} == {f'model.{t}_loss.loss_weight'
                                                               for t in ('mix_ce', 'kd', 'feat', 'adv')}
    assert space('mixskd-conv') == space('mixskd') and space('ce-matched') == space('ce')
    with pytest.raises(ValueError, match="no search space for method 'dino'"):
        space('dino')


def test_a_trial_config_sets_the_trial_reads_no_test_split_and_reports_to_its_trial(tmp_path):
    c = SimpleNamespace(data=DATA, data_dir=str(tmp_path / 'data'), pretraining=PRETRAINING, out=str(tmp_path),
                        settings=SimpleNamespace(seeds=(7, 1)))
    run = TrialRun(str(tmp_path), 'mixskd', 4, PRETRAINING.epochs)
    params = dict(lr=0.2, alpha=0.3, temperature=2.0, mix_ce_weight=0.5, kd_weight=1.5, feat_weight=0.2,
                  adv_weight=2.5)
    write_trial_config(c, run, params, 12)
    cfg = Config.fromfile(run.config)
    assert not set(TEST_KEYS) & set(cfg.keys()) and cfg.randomness.seed == 7 and cfg.work_dir == run.work_dir
    for key, value in overrides('mixskd', params):
        node = cfg
        for part in key.split('.'):
            node = node[part]
        assert node == value, key
    hook = cfg.custom_hooks[-1]
    assert hook == dict(type='OptunaPruningHook', storage=str(tmp_path / 'tune' / 'journal.log'), study_name='mixskd',
                        trial_number=4, pruner=dict(n_startup_trials=3, n_warmup_steps=1))


def _trial(owner, number=0):
    return SimpleNamespace(user_attrs=dict(owner=owner), number=number)


def test_a_running_trial_is_taken_over_only_when_its_worker_is_gone(tmp_path):
    me = studies.owner()
    assert not studies.is_stale(str(tmp_path), 'ce', _trial(me))  # this worker's own
    assert studies.is_stale(str(tmp_path), 'ce', _trial(dict(me, start='0')))  # its process id, another process
    parent = dict(me, pid=os.getppid(), start=studies._start_time(os.getppid()))
    assert not studies.is_stale(str(tmp_path), 'ce', _trial(parent))  # alive on this host
    elsewhere = dict(host=socket.gethostname() + '-other', pid=1, start='1')
    assert studies.is_stale(str(tmp_path), 'ce', _trial(elsewhere))  # no heartbeat
    with studies.heartbeat(str(tmp_path), 'ce', 0):
        assert not studies.is_stale(str(tmp_path), 'ce', _trial(elsewhere))
    beat = studies.heartbeat_path(str(tmp_path), 'ce', 0)
    os.utime(beat, (0, 0))
    assert studies.is_stale(str(tmp_path), 'ce', _trial(elsewhere))  # silent for longer than STALE_AFTER


def test_each_studys_first_trial_is_the_methods_default_setting(tmp_path):
    from mixskd_mm.compare.configs import model_config
    from mixskd_mm.compare.tune.spaces import defaults
    model = model_config('mixskd', 'resnet18', 2, (0, 0, 0), (1, 1, 1))
    assert defaults('mixskd', 0.05) == dict(lr=0.05, alpha=model['alpha'], temperature=model['kd_loss']['temperature'],
                                            mix_ce_weight=1.0, kd_weight=1.0, feat_weight=1.0, adv_weight=1.0)
    assert defaults('cutmix-matched', 0.01) == dict(lr=0.01, alpha=1.0)
    first = studies.claim(str(tmp_path), 'mixup', 3, 2, 0.05)
    assert first.number == 0 and first.params == dict(lr=0.05, alpha=1.0)
    second = studies.claim(str(tmp_path), 'mixup', 3, 2, 0.05)
    assert second.number == 1 and second.params != first.params  # then the sampler's
