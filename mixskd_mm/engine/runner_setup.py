"""Config handling shared by tools/train.py and tools/test.py (mm's usual CLI semantics)."""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Sequence

from mmengine.config import Config, DictAction

from mixskd_mm.utils.folders import folder_problem
from mixskd_mm.weights.file_checks import check_weights_file
from mixskd_mm.weights.timm_sources import is_timm_source


def parse_cfg_options(options: Sequence[str] | None) -> dict:
    """``['a.b=1', 'c=[1,2]']`` -> ``{'a.b': 1, 'c': [1, 2]}`` with mmengine's own parser."""
    if not options:
        return {}
    import argparse
    ns = argparse.Namespace()
    DictAction(option_strings=['--cfg-options'], dest='opts')(None, ns, list(options))
    return ns.opts


def add_common_args(parser) -> None:
    """The options tools/train.py and tools/test.py share, with mm's names."""
    parser.add_argument('--work-dir', help='folder for logs and checkpoints (default: work_dirs/CONFIG_NAME)')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', help='override config entries, mm style')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_cli(parser, argv=None):
    """Parse ``argv``; exports ``LOCAL_RANK`` for launchers that pass ``--local-rank`` instead."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_runner(cfg: Config):
    """MMEngine's Runner, or the config's own ``runner_type``; on a machine without CUDA a ``pytorch`` launch
    (torchrun) first gets a CPU process group (see :func:`mixskd_mm.compat.cpu_distributed.prepare_cpu_distributed`).
    The run's log says which fixes to the stack ``import mixskd_mm`` applied (:func:`mixskd_mm.compat.log_applied`)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from mixskd_mm.compat import log_applied
    from mixskd_mm.compat.cpu_distributed import prepare_cpu_distributed
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    log_applied(runner.logger)
    return runner


def finish_distributed() -> None:
    """End a distributed run together: every rank waits for the others, then closes its process group.

    Without this each process tears its group down whenever the interpreter exits, while the slower ranks may
    still be talking to it (rank 0 writes the last checkpoints and the exported backbone alone). Nothing happens
    in a single process.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class PathError(ValueError):
    """A file or folder given to ``tools/train.py`` / ``tools/test.py`` is not what it should be; the message names
    it and says what was expected. The tools print it as one line."""


#: the files ``Config.fromfile`` reads
CONFIG_SUFFIXES = ('.py', '.yml', '.yaml', '.json')
#: what a config is, for the messages
CONFIG_EXPECTED = 'a config file (.py, or .yml/.yaml/.json), e.g. configs/mixskd/mixskd_resnet18_1xb64_cifar100.py'
#: what ``--resume CKPT``, ``load_from`` and ``tools/test.py CHECKPOINT`` must be
CHECKPOINT_EXPECTED = 'a checkpoint written by tools/train.py (WORK_DIR/epoch_N.pth or iter_N.pth)'


def check_config_path(path: str) -> None:
    """Refuse a config path that is missing, a folder, or not a config file (a checkpoint given first, say).

    Raises:
        FileNotFoundError: no such path.
        PathError: a folder, or a file of another kind (named by its suffix).
    """
    if not osp.exists(path):
        raise FileNotFoundError(f'config file not found: {path!r}')
    if osp.isdir(path):
        raise PathError(f'config {path!r} is a folder; expected {CONFIG_EXPECTED}')
    suffix = osp.splitext(path)[1]
    if suffix not in CONFIG_SUFFIXES:
        hint = ' A checkpoint goes after the config: tools/test.py CONFIG CHECKPOINT.' \
            if suffix in ('.pth', '.pt', '.safetensors') else ''
        raise PathError(f'config {path!r} is not a config file (suffix {suffix or "none"!r}); '
                        f'expected {CONFIG_EXPECTED}.{hint}')


def check_work_dir(path: str) -> None:
    """Refuse a work dir that is a file, lies under a file, or cannot be created or written (cheap ``os.access``).

    Raises:
        PathError: with the path and what to do.
    """
    problem = folder_problem(path)
    if problem is None:
        return
    existing, kind = problem
    if kind == 'file':
        raise PathError(f'work dir {path!r}: {existing!r} is a file; expected a folder (created if missing) for the '
                        f'logs and checkpoints. Pass another --work-dir')
    raise PathError(f'work dir {path!r}: {existing!r} is not writable; expected a folder you can write the logs '
                    f'and checkpoints to. Pass another --work-dir')


def check_checkpoint(path: str | None, what: str) -> None:
    """Refuse a local checkpoint MMEngine would fail to load only once the Runner is built (URLs are left to it).

    Args:
        path: ``--resume CKPT``, the config's ``load_from``, or ``tools/test.py CHECKPOINT``; ``None``: nothing.
        what: how it was given, for the message.

    Raises:
        FileNotFoundError: no such file.
        WeightsFileError: a folder, an empty or truncated file, a safetensors file, or not a torch file.
    """
    if not path or '://' in path:
        return
    check_weights_file(path, what, safetensors=False, expected=CHECKPOINT_EXPECTED,
                       remake='use another checkpoint of the run (WORK_DIR/epoch_*.pth), or copy it again if it was '
                              'cut short')


def check_backbone_weights(cfg: Config) -> None:
    """Refuse a ``TimmStageBackbone``'s ``pretrained=`` / ``init_cfg`` Pretrained file that cannot be weights, before
    the Runner is built (it would fail there, from inside the model's construction). ``local-dir:``, ``hf-hub:`` and
    URLs are left to the loader.

    Raises:
        FileNotFoundError: no such file.
        WeightsFileError: a folder, an empty or truncated file, not a safetensors / torch file; named by its key.
    """
    backbone = (cfg.get('model') or {}).get('backbone') or {}
    if not str(backbone.get('type', '')).endswith('TimmStageBackbone'):
        return
    init_cfg = backbone.get('init_cfg')
    for key, path in (('model.backbone.pretrained', backbone.get('pretrained')),
                      ('model.backbone.init_cfg.checkpoint', init_cfg.get('checkpoint')
                       if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained' else None)):
        if isinstance(path, str) and '://' not in path and not is_timm_source(path):
            check_weights_file(path, key)


def load_config(path: str, cfg_options: Sequence[str] | None = None, work_dir: str | None = None,
                launcher: str = 'none') -> Config:
    """Read a config (``mmdet::``/``mmseg::`` bases resolve), apply overrides, set work_dir and launcher.

    Args:
        path: config file.
        cfg_options: ``KEY=VALUE`` overrides as given to ``--cfg-options``.
        work_dir: overrides the config's ``work_dir``; default ``work_dirs/<config name>``.
        launcher: ``none``, ``pytorch``, ``slurm`` or ``mpi``.

    Raises:
        FileNotFoundError: no such config.
        PathError: not a config file, or one that does not parse (the file and mmengine's reason).
    """
    check_config_path(path)
    try:
        cfg = Config.fromfile(path)
    except Exception as err:  # mmengine raises SyntaxError, OSError, NameError, ... for a bad config
        reason = ' '.join(str(err).split()) or type(err).__name__
        raise PathError(f'config {path!r} cannot be read ({type(err).__name__}: {reason[:500]}); expected '
                        f'{CONFIG_EXPECTED}') from err
    if cfg_options:
        cfg.merge_from_dict(parse_cfg_options(cfg_options))
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    cfg.launcher = launcher
    return cfg


def per_rank_seeds(cfg: Config) -> Config:
    """Under a distributed launcher, seed every process differently (MMEngine's ``randomness.diff_rank_seed``).

    Each rank then draws its own Mixup/CutMix lam and permutation, as the released ImageNet script does (it draws
    them per process), and its own augmentation and dropout. What else MMEngine 0.10.7 changes with it: process
    ``r`` is seeded with ``seed + r`` (python, numpy, torch) and ``runner.seed`` is that value, so data-loader
    workers are seeded per rank as before; the samplers get no seed, so ``DefaultSampler`` takes one drawn on rank 0
    and broadcast (``sync_random_seed``): the shuffle stays one order split across ranks, deterministic for a given
    ``seed`` but not the order a run without ``diff_rank_seed`` gets. Model weights stay identical across ranks (the
    Runner broadcasts rank 0's after ``init_weights``, DDP at wrapping). ``RNGStateHook`` saves every rank's
    generators, so resuming stays exact. A config (or ``--cfg-options randomness.diff_rank_seed=False``) that sets
    it keeps its choice; single-process runs are left as they are.
    """
    if cfg.get('launcher', 'none') == 'none':
        return cfg
    randomness = dict(cfg.get('randomness') or dict(seed=None))
    randomness.setdefault('diff_rank_seed', True)
    cfg.randomness = randomness
    return cfg


#: hooks tools/train.py adds to every config (mixskd_mm, mmdet and mmseg alike)
SAFETY_HOOKS = ('mixskd_mm.SanityCheckHook', 'mixskd_mm.NonFiniteLossHook', 'mixskd_mm.RNGStateHook',
                'mixskd_mm.MemoryFormatHook')


def add_safety_hooks(cfg: Config) -> Config:
    """Append :data:`SAFETY_HOOKS` to ``cfg.custom_hooks`` unless the config already has them."""
    hooks = list(cfg.get('custom_hooks') or [])
    present = {h.get('type', '').split('.')[-1] for h in hooks}
    hooks += [dict(type=t) for t in SAFETY_HOOKS if t.split('.')[-1] not in present]
    cfg.custom_hooks = hooks
    return cfg


def amp_support(cuda: bool) -> tuple[bool, str]:
    """Whether ``--amp`` can train here: always on a GPU (fp16), on a CPU only with native bf16.

    Args:
        cuda: whether the run will see a GPU.

    Returns:
        ``(supported, reason)``; on a CPU the reason of :func:`~mixskd_mm.engine.cpu_perf.native_bf16`.
    """
    from .cpu_perf import native_bf16
    return (True, 'CUDA: fp16 with loss scaling') if cuda else native_bf16()


def enable_amp(cfg: Config) -> Config:
    """Mixed precision for ``tools/train.py --amp``: on a GPU, MMEngine's ``AmpOptimWrapper`` (fp16, dynamic loss
    scale); on a CPU with native bf16 (AVX-512 BF16 or AMX), :class:`~mixskd_mm.engine.CpuBf16AmpOptimWrapper`
    (bf16 autocast, no scaling). The losses compute in fp32 either way.

    A config that names another optimiser wrapper keeps it.

    Raises:
        RuntimeError: without a GPU, on a CPU without native bf16 (the message says why).
    """
    import torch

    wrapper = cfg.optim_wrapper
    cuda = torch.cuda.is_available()
    supported, reason = amp_support(cuda)
    if not supported:
        raise RuntimeError(f'--amp without a GPU needs a CPU with native bf16, and {reason}; run without --amp')
    if wrapper.get('type', 'OptimWrapper') in ('OptimWrapper', 'mmengine.OptimWrapper'):
        wrapper.type = 'AmpOptimWrapper' if cuda else 'mixskd_mm.CpuBf16AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
    return cfg
