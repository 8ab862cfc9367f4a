"""mixskd_mm.utils.config: what tools/train.py changes in a config before the Runner sees it."""
import pytest
from mmengine.config import Config

from mixskd_mm.utils.config import per_rank_seeds


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

    from mixskd_mm.utils.config import finish_distributed
    finish_distributed()  # a single process without a group: nothing to do
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        finish_distributed()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
