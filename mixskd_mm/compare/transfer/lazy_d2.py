"""The LazyConfig leaf of :mod:`.d2`: a ``.py`` that loads the user's LazyConfig and replaces its FPN's
``bottom_up`` by ``L(TimmBackbone)(...)`` loading the backbone file, RGB input with the backbone's mean and std,
no ``init_checkpoint``, and the fine-tune's ``output_dir``."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mixskd_mm.utils.atomic_io import atomic_write_bytes

#: what the message of a config that cannot be converted ends with
LAZY_FIX = ('Make the change by hand as README.md, section "Detectron2", shows (the LazyConfig line) and train it '
            'with tools/d2_train.py.')


def write_lazy_leaf(config: str, info: Mapping, out_path: str, work_dir: str,
                    options: list[str]) -> tuple[list[str], list[str]]:
    """Write the LazyConfig leaf over ``config`` (``options``: LazyConfig ``key=value`` overrides, applied to read
    it); returns the changes and the command line's trailing options (the overrides as given)."""
    from omegaconf.errors import OmegaConfBaseException

    from mixskd_mm.detectron2.backbone import TimmBackbone  # Detectron2 loads only for a Detectron2 config
    from mixskd_mm.detectron2.config import load_lazy_config
    from mixskd_mm.detectron2.pixels import expected_stats
    cfg = load_lazy_config(config, options)
    try:
        bottom, features = cfg.model.backbone.bottom_up, list(cfg.model.backbone.in_features)
    except (OmegaConfBaseException, AttributeError, TypeError):
        raise ValueError(f'{config}: no model.backbone.bottom_up with model.backbone.in_features (an FPN over a '
                         f'ResNet), so there is no backbone to replace. {LAZY_FIX}') from None
    if 'train' not in cfg or 'dataloader' not in cfg or 'test' not in cfg.dataloader:
        raise ValueError(f'{config}: a LazyConfig without train / dataloader.test cannot be fine-tuned and scored by '
                         f'tools/d2_train.py. {LAZY_FIX}')
    norm = _norm(bottom)
    freeze_at = int(bottom.get('freeze_at', 0) or 0)
    try:
        built = TimmBackbone(info['model_name'], out_features=features, weights=info['path'], norm=norm)
    except ValueError as err:
        raise ValueError(f'{config}: {err}. {LAZY_FIX}') from None
    mean, std = expected_stats(info['model_name'], built.pretrained_cfg)
    call = (f'L(TimmBackbone)(model_name={info["model_name"]!r}, out_features={features!r}, '
            f'weights={info["path"]!r}, freeze_at={freeze_at}, norm={norm!r})')
    changes = [f'model.backbone.bottom_up: {_target(bottom)} -> {call}',
               f'model.input_format and dataloader.*.mapper.image_format -> RGB; model.pixel_mean '
               f'{list(cfg.model.get("pixel_mean", []))} -> {mean}, pixel_std {list(cfg.model.get("pixel_std", []))} '
               f'-> {std} (the backbone\'s training, 0-255 scale)',
               f'train.init_checkpoint: {cfg.train.get("init_checkpoint", "")!r} -> \'\'',
               f'train.output_dir: {work_dir}']
    lines = [f'# Written by mixskd_mm.compare.transfer.d2: fine-tunes {config}', f'#   from {info["path"]}',
             '# Train it with `python tools/d2_train.py --config-file THIS_FILE`. Changed from the base config:',
             *[f'#   - {c}' for c in changes],
             'from detectron2.config import LazyCall as L', 'from detectron2.config import LazyConfig', '',
             'from mixskd_mm.detectron2 import TimmBackbone', '',
             f'globals().update(LazyConfig.load({config!r}))',
             f'model.backbone.bottom_up = {call}',
             "model.input_format = 'RGB'", f'model.pixel_mean = {mean!r}', f'model.pixel_std = {std!r}',
             "for _split in ('train', 'test'):",
             "    if 'mapper' in dataloader[_split]:", "        dataloader[_split].mapper.image_format = 'RGB'",
             "train.init_checkpoint = ''", f'train.output_dir = {work_dir!r}']
    atomic_write_bytes(('\n'.join(lines) + '\n').encode('utf-8'), out_path)
    return changes, list(options)


def _norm(bottom: Any) -> str:
    """The norm of a Detectron2 ResNet's stages (``FrozenBN`` when not one TimmBackbone takes)."""
    from mixskd_mm.detectron2.backbone import NORMS
    stages = bottom.get('stages')
    norm = stages.get('norm') if hasattr(stages, 'get') else bottom.get('norm')
    return norm if norm in NORMS else 'FrozenBN'


def _target(node: Any) -> str:
    target = node.get('_target_') if hasattr(node, 'get') else None
    return getattr(target, '__name__', str(target))
