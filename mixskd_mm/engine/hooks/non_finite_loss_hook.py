"""Stop training at the first non-finite loss, naming the iteration and the term."""
from __future__ import annotations

import math
from typing import Optional

from mmengine.hooks import Hook

from mixskd_mm.registry import HOOKS


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise as soon as any logged loss term is NaN or infinite.

    Works for every model trained by the Runner (mixskd_mm, mmdet, mmseg): it reads the log
    variables the model's ``parse_losses`` produced for the iteration (already on the CPU, so it
    adds no synchronisation). ``tools/train.py`` adds it to every config.
    """

    priority = 'HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None) -> None:
        if not outputs:
            return
        bad = {k: v for k, v in outputs.items() if 'loss' in k and not math.isfinite(float(v))}
        if bad:
            terms = ', '.join(f'{k}={float(v)}' for k, v in bad.items())
            raise RuntimeError(
                f'non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): {terms}. '
                f'Training stopped; the last checkpoint in {runner.work_dir} is intact. Try a lower learning '
                f'rate or a longer warm-up, check the inputs for NaNs, or use --amp (dynamic loss scaling).')
