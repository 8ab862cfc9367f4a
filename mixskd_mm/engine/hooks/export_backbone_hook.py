"""Write the deployable backbone when training ends."""
from __future__ import annotations

import os.path as osp

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mixskd_mm.export.backbone_file import export_metadata, runner_meta, save_backbone
from mixskd_mm.registry import HOOKS


@HOOKS.register_module()
class ExportBackboneHook(Hook):
    """After training, save ``model.backbone`` to ``{work_dir}/{filename}`` with timm key names.

    The file is what ``tools/export_backbone.py`` writes from the final checkpoint, metadata included (both take
    it from :func:`mixskd_mm.export.backbone_file.export_metadata`): safetensors with the model name, ``out_indices``
    and stem options, ready for the mmdet / mmseg configs. With ``timm_dir`` the hook also writes the timm model folder
    that ``tools/export_backbone.py CKPT OUT_DIR --format timm`` writes (:mod:`mixskd_mm.export.timm_folder`).

    Args:
        filename: output name inside the work dir (``.safetensors`` or ``.pth``); ``None`` writes no file.
        out_dir: another folder instead of the work dir.
        timm_dir: a folder (relative to ``out_dir`` / the work dir, or absolute) for the timm model folder;
            ``None`` (default) writes none.
        keep_classifier: timm folder: keep the trained classifier, or drop it (``num_classes=0``).
    """

    priority = 'VERY_LOW'

    def __init__(self, filename: str | None = 'backbone.safetensors', out_dir: str | None = None,
                 timm_dir: str | None = None, keep_classifier: bool = True) -> None:
        self.filename = filename
        self.out_dir = out_dir
        self.timm_dir = timm_dir
        self.keep_classifier = keep_classifier

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        backbone = getattr(model, 'backbone', None)
        if backbone is None or runner.rank != 0:
            return
        meta = runner_meta(runner)
        folder = self.out_dir or runner.work_dir
        if self.filename:
            out, state = osp.join(folder, self.filename), backbone.state_dict()
            save_backbone(state, out, export_metadata(meta))
            runner.logger.info(f'exported the backbone ({len(state)} tensors) to {out}')
        if self.timm_dir:
            from mixskd_mm.export.timm_folder import write_timm_folder
            out = osp.join(folder, self.timm_dir)
            config = write_timm_folder(model.state_dict(), meta, out, work_dir=runner.work_dir,
                                       keep_classifier=self.keep_classifier)
            runner.logger.info(f"exported the backbone as a timm folder to {out} "
                               f"(timm compatible: {config['mixskd_mm']['timm_compatible']})")
