"""Fix: distributed runs without CUDA (``tools/dist_train.sh`` / ``dist_test.sh`` on CPUs, over gloo).

Applied when a Runner is built (:func:`mixskd_mm.engine.runner_setup.build_runner`), not at import: it needs the
config.
"""
from __future__ import annotations

from typing import Any

from mmengine.config import Config


def prepare_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` (``tools/dist_train.sh``) run on CPUs: mmengine 0.10.7 always calls
    ``torch.cuda.set_device`` when it starts the process group and hands DDP ``device_ids=[LOCAL_RANK]``, which
    CPU modules refuse. Without CUDA, start the process group here with the ``gloo`` backend (from torchrun's
    ``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` / ``MASTER_PORT``; the Runner then skips its own start) and wrap
    the model with ``device_ids=None`` unless the config names its own wrapper."""
    import datetime
    import os

    import torch
    import torch.distributed as dist
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available() or dist.is_initialized():
        return
    timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
    extra: dict[str, Any] = {} if timeout is None else dict(timeout=datetime.timedelta(seconds=timeout))
    dist.init_process_group('gloo', rank=int(os.environ['RANK']), world_size=int(os.environ['WORLD_SIZE']), **extra)
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))
