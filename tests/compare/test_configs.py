"""A comparison's generated configs start from our ``configs/_base_``: a change there reaches them."""
import dataclasses
import shutil

from mmengine.config import Config

from mixskd_mm.compare import configs
from mixskd_mm.compare.study import Variant, parse_sweep, plan_pretraining
from mixskd_mm.utils import locations

DATA = dict(classes=['a', 'b', 'c'], splits=dict(train=dict(images=30)), mean=[120.0] * 3, std=[60.0] * 3,
            has_test=True)
PRETRAINING = configs.Pretraining.on(DATA, model='test_resnet', img_size=32, epochs=3, batch=8, lr=0.1, workers=0)
#: edits to a copy of our bases: (file, old text, new text)
EDITS = [
    ('default_runtime.py', 'window_size=10', 'window_size=7'),
    ('default_runtime.py', "log_level = 'INFO'", "log_level = 'DEBUG'"),
    ('default_runtime.py', "interval=50)", "interval=50, log_metric_by_epoch=False)"),
    ('default_runtime.py', "custom_hooks = [dict(type='ExportBackboneHook')]",
     "custom_hooks = [dict(type='ExportBackboneHook'), dict(type='EMAHook')]"),
    ('default_runtime.py', 'max_keep_ckpts=3', 'max_keep_ckpts=5'),  # the comparison keeps its own (one)
    ('schedules/cpu_sgd_cosine_10e.py', 'weight_decay=5e-4', 'weight_decay=1e-4'),
    ('schedules/cpu_sgd_cosine_10e.py', 'start_factor=0.1', 'start_factor=0.2'),
]


def _copied_configs(tmp_path, monkeypatch, edits=()):
    """A checkout's configs/ whose bases have ``edits`` (as :data:`EDITS`), found by ``config_path`` as our own."""
    shutil.copytree(locations.configs_dir(), tmp_path / 'configs')
    for name, old, new in edits:
        path = tmp_path / 'configs' / '_base_' / name
        text = path.read_text()
        assert text.count(old) == 1, f'{old!r} is no longer in {name}: update EDITS'
        path.write_text(text.replace(old, new))
    monkeypatch.setattr(locations, 'PACKAGE_DIR', str(tmp_path / 'mixskd_mm'))
    assert locations.configs_dir() == str(tmp_path / 'configs')


def test_a_change_to_our_base_runtime_and_schedule_reaches_every_generated_config(tmp_path, monkeypatch):
    _copied_configs(tmp_path, monkeypatch, EDITS)
    runs = plan_pretraining(str(tmp_path / 'out'), ['ce', 'mixskd'], [0, 1], [Variant()], DATA, PRETRAINING)
    assert len(runs) == 4
    for run in runs:
        cfg = Config.fromfile(run.config)
        assert cfg.log_processor.window_size == 7 and cfg.log_level == 'DEBUG'
        assert cfg.custom_hooks == [dict(type='ExportBackboneHook'), dict(type='EMAHook')]
        assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
        assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR']
        assert cfg.param_scheduler[0].start_factor == 0.2 and cfg.param_scheduler[1].T_max == 2
        # what the comparison sets itself, each for a reason given in configs.py
        assert cfg.default_hooks.logger == dict(type='LoggerHook', interval=4, ignore_last=False,
                                                log_metric_by_epoch=False)
        assert cfg.default_hooks.checkpoint == dict(type='CheckpointHook', interval=1, max_keep_ckpts=1)
        assert cfg.train_cfg == dict(by_epoch=True, max_epochs=3, val_interval=1)
        assert cfg.randomness == dict(seed=run.seed, deterministic=False) and cfg.work_dir == run.work_dir


def _probed(node, path=''):
    """``node`` with every value replaced by its place in it (``'default_hooks.timer.type'``)."""
    if isinstance(node, dict):
        return {key: _probed(value, f'{path}.{key}'.lstrip('.')) for key, value in node.items()}
    if isinstance(node, list):
        return [_probed(value, f'{path}.{i}') for i, value in enumerate(node)]
    return path


def _leaves(node, path=''):
    """``{place: value}`` of every value in ``node``."""
    if isinstance(node, dict):
        return {k: v for key, value in node.items() for k, v in _leaves(value, f'{path}.{key}'.lstrip('.')).items()}
    if isinstance(node, list):
        return {k: v for i, value in enumerate(node) for k, v in _leaves(value, f'{path}.{i}').items()}
    return {path: node}


def test_every_setting_of_our_runtime_reaches_the_generated_config(tmp_path, monkeypatch):
    """No value of default_runtime.py is typed again in configs.py, but those the comparison sets for a reason."""
    _copied_configs(tmp_path, monkeypatch)
    runtime = tmp_path / 'configs' / '_base_' / 'default_runtime.py'
    probed = _probed(Config.fromfile(str(runtime)).to_dict())
    runtime.write_text(Config(probed).pretty_text)
    run = plan_pretraining(str(tmp_path / 'out'), ['mixskd'], [0], [Variant()], DATA, PRETRAINING)[0]
    generated = _leaves(Config.fromfile(run.config).to_dict())
    own = ('default_hooks.logger.interval', 'default_hooks.checkpoint.', 'randomness.seed')  # configs.py says why
    probes = {place: generated.get(place) for place in _leaves(probed) if not place.startswith(own)}
    assert len(probes) >= 20 and probes == {place: place for place in probes}
    assert generated['default_hooks.checkpoint.max_keep_ckpts'] == 1 and generated['randomness.seed'] == 0


def test_the_written_config_is_complete_and_reads_back_as_built(tmp_path):
    config = configs.method_config('mixskd', dict(DATA, has_test=False), str(tmp_path / 'data'),
                                   dataclasses.replace(PRETRAINING, epochs=1))
    run = configs.run_config(config, 3, str(tmp_path / 'run'), {'model.alpha': 0.2})
    path = tmp_path / 'run.py'
    path.write_text(run.pretty_text)
    assert '_base_' not in run.pretty_text and '_delete_' not in run.pretty_text
    assert Config.fromfile(str(path)).to_dict() == run.to_dict()
    assert 'test_cfg' not in run and 'test_dataloader' not in run  # the Runner takes all three or none
    assert [s.type for s in run.param_scheduler] == ['CosineAnnealingLR']  # one epoch: no warm-up
    assert run.val_evaluator[1].out_file == str(tmp_path / 'run' / 'val_scores.npz')
    assert run.model.alpha == 0.2 and run.randomness.seed == 3
    assert config.model.alpha == 0.4 and 'work_dir' not in config  # left unchanged


def test_each_method_config_is_built_once(tmp_path, monkeypatch):
    loaded = []
    base_config = configs.base_config
    monkeypatch.setattr(configs, 'base_config', lambda: loaded.append(1) or base_config())
    runs = plan_pretraining(str(tmp_path), ['ce', 'mixup'], [0, 1], parse_sweep(['model.alpha=0.2,1.0']), DATA,
                            PRETRAINING)
    assert [run.name for run in runs] == ['ce_seed0', 'ce_seed1', 'mixup_alpha-0.2_seed0', 'mixup_alpha-0.2_seed1',
                                          'mixup_alpha-1.0_seed0', 'mixup_alpha-1.0_seed1']
    assert len(loaded) == 2
