"""Keep ``channels_last='auto'``'s layout choices in checkpoints, so a resumed run computes as the one it resumes."""
from __future__ import annotations

import torch
from mmengine.hooks import Hook

from mixskd_mm.registry import HOOKS

from ...models import memory_format

_LAYOUTS = {'channels_last': torch.channels_last, 'contiguous': torch.contiguous_format}


def _dtype_name(dtype) -> str:
    return str(dtype).replace('torch.', '') if dtype is not None else ''


def dump_choices() -> list[tuple]:
    """This process's layout choices as plain tuples (dtypes and layouts as names: safe for weights-only loading)."""
    out = []
    for sig, fmt in memory_format.chosen().items():
        fields = dict(sig._asdict(), dtype=_dtype_name(sig.dtype), autocast=_dtype_name(sig.autocast))
        out.append((tuple(fields.values()), 'channels_last' if fmt is torch.channels_last else 'contiguous'))
    return out


def load_choices(entries: list[tuple]) -> int:
    """Take layout choices written by :func:`dump_choices`; return how many."""
    chosen = {}
    for fields, layout in entries:
        named = memory_format.Signature(*fields)._asdict()  # dtypes by name, as dump_choices wrote them
        sig = memory_format.Signature(**dict(named, dtype=getattr(torch, named['dtype']),
                                             autocast=getattr(torch, named['autocast']) if named['autocast'] else None))
        chosen[sig] = _LAYOUTS[layout]
    memory_format.restore(chosen)
    return len(chosen)


@HOOKS.register_module()
class MemoryFormatHook(Hook):
    """Save the convolution layouts ``channels_last='auto'`` timed (:mod:`mixskd_mm.models.memory_format`) in each
    checkpoint (``memory_formats``) and take them back on ``--resume``.

    The choices are timed per process, so without this a resumed run would time them again and could pick another
    layout where both are close, which changes its values at float rounding. With it, the resumed run uses the
    layouts of the run it continues from its first step. Nothing is written when no choice was made (every
    model without ``'auto'``). Under DDP the checkpoint holds rank 0's choices (MMEngine saves on rank 0), and
    every rank takes those. ``tools/train.py`` adds it to every config.
    """

    priority = 'LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        entries = dump_choices()
        if entries:
            checkpoint['memory_formats'] = entries

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner._resume and checkpoint.get('memory_formats'):
            n = load_choices(checkpoint['memory_formats'])
            runner.logger.info(f"channels_last='auto': {n} convolution layouts taken from the checkpoint")
