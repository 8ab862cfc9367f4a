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
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        checkpoint['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('rng_state')
        if not state or not runner._resume:  # loading weights only (load_from) keeps the fresh seed
            return
        version, internal, gauss = state['python']
        random.setstate((version, tuple(internal), gauss))
        np.random.set_state(state['numpy'])
        torch.set_rng_state(state['torch'])
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state['cuda'])
