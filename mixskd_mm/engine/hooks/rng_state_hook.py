"""Save the random generators' state in checkpoints (every rank's under DDP) and restore it on resume."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from mmengine.dist import gather_object, get_dist_info
from mmengine.hooks import CheckpointHook, Hook

from mixskd_mm.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Store python, numpy, torch (and CUDA) RNG states in each checkpoint; restore them on resume.

    MMEngine re-seeds on resume but does not restore the generators, so the Mixup draws (lam and the
    pairing permutation come from torch's RNG) after a resume differ from an uninterrupted run's.
    With this hook and deterministic settings, a run killed and resumed from a checkpoint continues
    with exactly the losses it would have had. ``tools/train.py`` adds it to every config.

    Under DDP every process has its own generators (``tools/train.py`` seeds each rank differently), so every
    rank's states are saved: the checkpoint holds ``rng_state`` (rank 0's, the single-process format) and
    ``rng_state_per_rank`` (a list indexed by rank). MMEngine writes checkpoints on rank 0 alone, and only rank 0
    calls ``before_save_checkpoint``, so the states are gathered to rank 0 earlier, at hook points every rank
    passes before a checkpoint can be written: ``after_train_epoch``, ``after_val_epoch`` (the best checkpoint),
    and ``after_train_iter`` when an iteration-based :class:`~mmengine.hooks.CheckpointHook` saves at that
    iteration. One small gather (a few kB per rank) each time; nothing happens in a single process. The hook's
    priority (``LOW``) puts it before ``CheckpointHook`` (``VERY_LOW``) at each of these points. On resume every
    rank loads the checkpoint and takes its own entry; it sets it again in ``before_train``, after MMEngine may
    have re-seeded (when the checkpoint's seed differs from the config's, e.g. ``seed=None``).

    A checkpoint with one state (single process, or written before per-rank states) restores it on rank 0, and on
    the other ranks only when ranks share one seed (``randomness.diff_rank_seed`` off); otherwise those ranks
    keep their fresh per-rank seeds.

    Validation leaves the generators as it found them: creating a data-loader iterator draws from torch's RNG, so a
    validation between two training epochs would otherwise shift every training draw after it, and a run resumed
    from the checkpoint written just before that validation (which the resumed run does not repeat) would diverge.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._held: dict | None = None  # the states when validation began, set back when it ends
        self._gathered: tuple[int, Any] | None = None  # (runner.iter, every rank's states) at the last gather
        self._pending: dict | None = None  # this rank's states from the resumed checkpoint, set again in before_train

    # -- saving ---------------------------------------------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if get_dist_info()[1] > 1 and self._iter_checkpoint_due(runner):
            self._gather(runner)

    def after_train_epoch(self, runner) -> None:
        if get_dist_info()[1] > 1:
            self._gather(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        own = self._held if self._held is not None else _states()
        if get_dist_info()[1] == 1:
            checkpoint['rng_state'] = own
            return
        if self._gathered is None or self._gathered[0] != runner.iter:
            runner.logger.warning('RNGStateHook: this checkpoint is saved at a point where the ranks\' random states '
                                  'were not gathered; it holds rank 0\'s only, and the other ranks restart from '
                                  'fresh seeds when it is resumed.')
            checkpoint['rng_state'] = own
            return
        states = self._gathered[1]
        checkpoint['rng_state'] = states[0]
        checkpoint['rng_state_per_rank'] = states

    def _gather(self, runner) -> None:
        """Collect every rank's states on rank 0 (all ranks must call this)."""
        own = self._held if self._held is not None else _states()
        self._gathered = (runner.iter, gather_object(own, dst=0))

    def _iter_checkpoint_due(self, runner) -> bool:
        """Whether an iteration-based CheckpointHook saves after this iteration (its own condition)."""
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and not hook.by_epoch:
                if (self.every_n_train_iters(runner, hook.interval, hook.save_begin)
                        or (hook.save_last and self.is_last_train_iter(runner))):
                    return True
        return False

    # -- resuming -------------------------------------------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner._resume:  # loading weights only (load_from) keeps the fresh seed
            return
        state = _state_for_this_rank(checkpoint, runner)
        if state is not None:
            _restore(state)
            self._pending = state

    def before_train(self, runner) -> None:
        if self._pending is not None:
            _restore(self._pending)
            self._pending = None

    # -- validation -----------------------------------------------------------------------------------------------
    def before_val_epoch(self, runner) -> None:
        self._held = _states()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._held is not None:
            _restore(self._held)
            self._held = None
        if get_dist_info()[1] > 1:
            self._gather(runner)


def _state_for_this_rank(checkpoint: dict, runner) -> dict | None:
    """This rank's generator states in ``checkpoint``, or None when it holds none for this rank."""
    rank, world_size = get_dist_info()
    per_rank: list[dict] | None = checkpoint.get('rng_state_per_rank')
    if per_rank:
        if len(per_rank) != world_size:
            runner.logger.warning(f'RNGStateHook: the checkpoint holds the random states of {len(per_rank)} ranks, '
                                  f'this run has {world_size}; ranks without a saved state keep their fresh seeds.')
        return per_rank[rank] if rank < len(per_rank) else None
    state = checkpoint.get('rng_state')
    if not state:
        return None
    if rank == 0 or not getattr(runner, '_randomness_cfg', {}).get('diff_rank_seed', False):
        return state
    return None


def _states() -> dict:
    """The python, numpy, torch (and initialised CUDA) generator states."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _restore(state: dict) -> None:
    """Set the generators to ``state`` (as :func:`_states` returns it, or as a checkpoint holds it).

    Tensors go back to the CPU first: a resumed checkpoint is loaded onto the training device.
    """
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])
