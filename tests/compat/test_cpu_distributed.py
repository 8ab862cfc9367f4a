"""mixskd_mm.compat.cpu_distributed: a ``pytorch`` launch on a machine without CUDA gets a gloo process group and a
DDP wrapper without device ids; other launches are left alone. (tests/tools/test_dist_train.py runs two real
processes through tools/dist_train.sh.)"""
import socket

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from mixskd_mm.compat.cpu_distributed import prepare_cpu_distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_a_single_process_run_is_left_alone():
    cfg = Config(dict(launcher='none'))
    prepare_cpu_distributed(cfg)
    assert not dist.is_initialized() and 'model_wrapper_cfg' not in cfg


@pytest.mark.skipif(torch.cuda.is_available(), reason='with CUDA the Runner starts the process group itself')
def test_a_pytorch_launch_without_cuda_gets_gloo_and_a_wrapper_without_device_ids(monkeypatch):
    for key, value in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60))))
    try:
        prepare_cpu_distributed(cfg)
        assert dist.is_initialized() and dist.get_backend() == 'gloo' and dist.get_world_size() == 1
        assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel', device_ids=None,
                                             broadcast_buffers=False, find_unused_parameters=False)
        own = Config(dict(launcher='pytorch', model_wrapper_cfg=dict(type='MyWrapper')))
        prepare_cpu_distributed(own)  # a group already exists and the config names its wrapper: kept
        assert own.model_wrapper_cfg == dict(type='MyWrapper')
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
