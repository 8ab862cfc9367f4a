"""Save the random generators' state in checkpoints and restore it on resume."""
from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.hooks import Hook

from mixskd_mm.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Store python, numpy, torch (and CUDA) RNG states in each checkpoint; restore them on resume.

    MMEngine re-seeds on resume but does not restore the generators, so the Mixup draws (lam and the
    pairing permutation come from torch's RNG) after a resume differ from an uninterrupted run's.
    With this hook and deterministic settings, a run killed and resumed from a checkpoint continues
    with exactly the losses it would have had. ``tools/train.py`` adds it to every config.

    Validation leaves the generators as it found them: creating a data-loader iterator draws from torch's RNG, so a
    validation between two training epochs would otherwise shift every training draw after it, and a run resumed
    from the checkpoint written just before that validation (which the resumed run does not repeat) would diverge.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._held = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = _states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('rng_state')
        if not state or not runner._resume:  # loading weights only (load_from) keeps the fresh seed
            return
        _restore(state)

    def before_val_epoch(self, runner) -> None:
        self._held = _states()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._held is not None:
            _restore(self._held)
            self._held = None


def _states() -> dict:
    """The python, numpy, torch (and initialised CUDA) generator states."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _restore(state: dict) -> None:
    """Set the generators to ``state`` (as :func:`_states` returns it, or as a checkpoint holds it)."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])
