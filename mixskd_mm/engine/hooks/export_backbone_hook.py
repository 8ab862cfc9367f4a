"""Write the deployable backbone when training ends."""
from __future__ import annotations

import os.path as osp
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mixskd_mm.export import module_metadata, save_backbone
from mixskd_mm.registry import HOOKS


@HOOKS.register_module()
class ExportBackboneHook(Hook):
    """After training, save ``model.backbone`` to ``{work_dir}/{filename}`` with timm key names.

    The file is what ``tools/export_backbone.py`` writes from the final checkpoint: safetensors with
    the model name and ``out_indices`` as metadata, ready for the mmdet / mmseg configs.

    Args:
        filename: output name inside the work dir (``.safetensors`` or ``.pth``).
        out_dir: another folder instead of the work dir.
    """

    priority = 'VERY_LOW'

    def __init__(self, filename: str = 'backbone.safetensors', out_dir: Optional[str] = None) -> None:
        self.filename = filename
        self.out_dir = out_dir

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        backbone = getattr(model, 'backbone', None)
        if backbone is None or runner.rank != 0:
            return
        meta = dict(module_metadata(backbone), source=f'{runner.experiment_name} iter {runner.iter}')
        out = osp.join(self.out_dir or runner.work_dir, self.filename)
        save_backbone(backbone.state_dict(), out, meta)
        runner.logger.info(f'exported the backbone ({len(backbone.state_dict())} tensors) to {out}')
