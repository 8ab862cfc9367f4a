"""mixskd_mm.engine.runner_setup: what tools/train.py changes in a config before the Runner sees it."""
import re

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


def test_a_config_path_that_is_no_config_is_named_with_what_was_expected(tmp_path):
    from mixskd_mm.engine.runner_setup import PathError, load_config
    with pytest.raises(PathError, match=rf"config '{tmp_path}' is a folder; expected a config file \(\.py"):
        load_config(str(tmp_path))
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'PK\x03\x04')
    with pytest.raises(PathError, match=r"config '.*epoch_1\.pth' is not a config file \(suffix '\.pth'\).*"
                                        r"A checkpoint goes after the config: tools/test\.py CONFIG CHECKPOINT"):
        load_config(str(ckpt))
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(type=\n')
    with pytest.raises(PathError, match=r"config '.*broken\.py' cannot be read \(SyntaxError: .*expected a config"):
        load_config(str(broken))


def test_a_work_dir_that_is_or_lies_under_a_file_is_refused(tmp_path):
    from mixskd_mm.engine.runner_setup import PathError, check_work_dir
    check_work_dir(str(tmp_path / 'new' / 'run'))  # created later by the Runner
    taken = tmp_path / 'taken'
    taken.write_text('x')
    for work_dir in (taken, taken / 'run'):
        with pytest.raises(PathError, match=rf"work dir '{work_dir}': '{taken}' is a file; expected a folder"):
            check_work_dir(str(work_dir))


def test_a_checkpoint_to_resume_or_test_is_checked_before_the_runner_is_built(tmp_path):
    from mixskd_mm.engine.runner_setup import check_checkpoint
    from mixskd_mm.weights.files import WeightsFileError
    check_checkpoint(None, 'load_from')
    check_checkpoint('https://download.example/x.pth', 'load_from')  # URLs are mmengine's to fetch
    exported = tmp_path / 'backbone.safetensors'
    exported.write_bytes(b'\0' * 16)
    with pytest.raises(WeightsFileError, match=r"--resume checkpoint '.*backbone\.safetensors' is a safetensors file "
                                               r"\(weights alone\); expected a checkpoint written by tools/train\.py"):
        check_checkpoint(str(exported), '--resume checkpoint')
    truncated = tmp_path / 'epoch_3.pth'
    truncated.write_bytes(b'PK\x03\x04' + b'\0' * 100)
    with pytest.raises(WeightsFileError, match=r"checkpoint '.*epoch_3\.pth' is truncated or damaged.*use another "
                                               r"checkpoint of the run"):
        check_checkpoint(str(truncated), 'checkpoint')
    with pytest.raises(FileNotFoundError, match=r"checkpoint not found: '.*nope\.pth'"):
        check_checkpoint(str(tmp_path / 'nope.pth'), 'checkpoint')


def test_backbone_weights_named_by_a_config_are_checked_first(tmp_path):
    from mixskd_mm.engine.runner_setup import check_backbone_weights
    from mixskd_mm.weights.files import WeightsFileError
    empty = tmp_path / 'b.safetensors'
    empty.write_bytes(b'')
    for backbone, key in ((dict(pretrained=str(empty)), 'model.backbone.pretrained'),
                          (dict(init_cfg=dict(type='Pretrained', checkpoint=str(empty))),
                           'model.backbone.init_cfg.checkpoint')):
        cfg = Config(dict(model=dict(backbone=dict(type='mixskd_mm.TimmStageBackbone', **backbone))))
        with pytest.raises(WeightsFileError, match=rf"{re.escape(key)} '.*b\.safetensors' is empty"):
            check_backbone_weights(cfg)
    # other backbones' weights, and names the loader resolves, are left to the loaders
    check_backbone_weights(Config(dict(model=dict(backbone=dict(type='ResNet', pretrained=str(empty))))))
    check_backbone_weights(Config(dict(model=dict(backbone=dict(type='TimmStageBackbone',
                                                                pretrained='local-dir:/nowhere')))))
