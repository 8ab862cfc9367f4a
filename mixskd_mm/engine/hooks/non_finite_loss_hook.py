"""Stop training at the first non-finite loss, naming the iteration and the term."""
from __future__ import annotations

import torch
from mmengine.hooks import Hook

from mixskd_mm.registry import HOOKS


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise as soon as any logged loss term is NaN or infinite.

    Works for every model trained by the Runner (mixskd_mm, mmdet, mmseg): it reads the log
    variables the model's ``parse_losses`` produced for the iteration (tensors on the model's device,
    still attached to the graph), checked together in one host transfer; the logger reads them anyway.
    ``tools/train.py`` adds it to every config.
    """

    priority = 'HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: dict | None = None) -> None:
        if not outputs:
            return
        terms = {k: v for k, v in outputs.items() if 'loss' in k}
        if not terms:
            return
        device = next((v.device for v in terms.values() if torch.is_tensor(v)), None)
        values = torch.stack([torch.as_tensor(v, device=device).detach().float().reshape(())
                              for v in terms.values()]).cpu()
        if not bool(values.isfinite().all()):
            listed = ', '.join(f'{k}={v.item()}' for k, v in zip(terms, values) if not v.isfinite())
            raise RuntimeError(
                f'non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}): {listed}. '
                f'Training stopped; the last checkpoint in {runner.work_dir} is intact. Try a lower learning '
                f'rate or a longer warm-up, check the inputs for NaNs, or use --amp (dynamic loss scaling).')
