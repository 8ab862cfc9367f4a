"""mixskd_mm.engine.runner_setup: what tools/train.py changes in a config before the Runner sees it."""
import pytest
from mmengine.config import Config

from mixskd_mm.engine.runner_setup import per_rank_seeds


@pytest.mark.parametrize('launcher, randomness, expected', [
    ('pytorch', dict(seed=0, deterministic=False), dict(seed=0, deterministic=False, diff_rank_seed=True)),
    ('slurm', None, dict(seed=None, diff_rank_seed=True)),  # a config without randomness (mmdet/mmseg bases)
    ('pytorch', dict(seed=0, diff_rank_seed=False), dict(seed=0, diff_rank_seed=False)),  # the config's choice
    ('none', dict(seed=0), dict(seed=0)),  # a single process is left as it is
])
def test_distributed_launches_seed_every_rank_differently(launcher, randomness, expected):
    cfg = Config(dict(launcher=launcher) if randomness is None else dict(launcher=launcher, randomness=randomness))
    per_rank_seeds(cfg)
    assert dict(cfg.randomness) == expected


def test_finish_distributed_closes_the_process_group(tmp_path):
    import torch.distributed as dist

    from mixskd_mm.engine.runner_setup import finish_distributed
    finish_distributed()  # a single process without a group: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        finish_distributed()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_cfg_options_parse_as_mmengine_does():
    from mixskd_mm.engine.runner_setup import parse_cfg_options
    assert parse_cfg_options(None) == {}
    assert parse_cfg_options(['a.b=1', 'c=[1,2]', 'd=x', 'e=None']) == {'a.b': 1, 'c': [1, 2], 'd': 'x', 'e': None}


def test_load_config_applies_options_work_dir_and_launcher(tmp_path):
    from mixskd_mm.engine.runner_setup import load_config
    path = tmp_path / 'my_recipe.py'
    path.write_text("model = dict(type='M', depth=18)\ntrain_cfg = dict(max_epochs=10)\n")
    cfg = load_config(str(path), ['train_cfg.max_epochs=2', 'model.depth=34'], launcher='pytorch')
    assert (cfg.model.depth, cfg.train_cfg.max_epochs, cfg.launcher) == (34, 2, 'pytorch')
    assert cfg.work_dir == './work_dirs/my_recipe'  # mm's default: work_dirs/<config name>
    assert load_config(str(path), work_dir=str(tmp_path / 'w')).work_dir == str(tmp_path / 'w')
    with pytest.raises(FileNotFoundError, match='config file not found'):
        load_config(str(tmp_path / 'missing.py'))


def test_safety_hooks_are_added_once_and_the_configs_own_hooks_kept():
    from mixskd_mm.engine.runner_setup import SAFETY_HOOKS, add_safety_hooks
    cfg = Config(dict(custom_hooks=[dict(type='EMAHook'), dict(type='RNGStateHook')]))
    add_safety_hooks(cfg)
    add_safety_hooks(cfg)  # idempotent
    types = [h['type'] for h in cfg.custom_hooks]
    assert types[:2] == ['EMAHook', 'RNGStateHook']
    assert sorted(types[2:]) == sorted(t for t in SAFETY_HOOKS if not t.endswith('RNGStateHook'))


def test_build_runner_builds_mmengines_runner_from_the_config(tmp_path):
    from mmengine.runner import Runner

    from mixskd_mm.engine.runner_setup import build_runner
    cfg = Config(dict(model=dict(type='mixskd_mm.ImageClassifier', backbone=dict(type='mixskd_mm.TimmStageBackbone',
                                                                               model_name='test_resnet'),
                                 num_classes=3), work_dir=str(tmp_path), launcher='none'))
    runner = build_runner(cfg)
    assert type(runner) is Runner and runner.model.num_classes == 3 and runner.work_dir == str(tmp_path)
