"""A leaf over a user's Detectron2 config: the comparison's fine-tune of a pretrained backbone with Detectron2's own
trainer (``python tools/d2_train.py --config-file LEAF [KEY VALUE ...]``), its box AP read from Detectron2's output.

A Detectron2 config is recognised by its content (:func:`config_kind`): a yacs ``.yaml`` whose top-level keys are
Detectron2's upper-case sections (``MODEL``, ``DATASETS``, ``SOLVER`` ...) or ``_BASE_``, or a LazyConfig ``.py``
that imports ``detectron2``. Anything else is an mmdet config (:mod:`.user`). Detectron2 itself is imported only here,
and only when such a config is given (``import mixskd_mm`` and tools/compare.py work without it).

The leaf makes the changes of README.md's section "Detectron2" for the user: ``MODEL.BACKBONE.NAME`` becomes our
builder of the same FPN variant, ``MODEL.TIMM`` names the backbone file (loaded with its ``N/N tensors matched``
report), ``MODEL.WEIGHTS`` is cleared, the input is RGB with the mean and std the backbone was trained with (0-255
scale), and ``OUTPUT_DIR`` is the fine-tune's work directory.
"""
from __future__ import annotations

import ast
import json
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from .lazy_d2 import write_lazy_leaf

#: Detectron2's top-level sections of a yacs config
SECTIONS = ('MODEL', 'INPUT', 'DATASETS', 'DATALOADER', 'SOLVER', 'TEST', 'OUTPUT_DIR', 'SEED', 'VERSION')
#: the ResNet builders of Detectron2 (and ours) -> our builder of the same FPN variant
BUILDERS = {'build_resnet_fpn_backbone': 'build_timm_fpn_backbone',
            'build_timm_fpn_backbone': 'build_timm_fpn_backbone',
            'build_retinanet_resnet_fpn_backbone': 'build_timm_retinanet_fpn_backbone',
            'build_timm_retinanet_fpn_backbone': 'build_timm_retinanet_fpn_backbone'}
#: the detectors whose COCOEvaluator results have a box AP
BOX_MODELS = ('GeneralizedRCNN', 'RetinaNet', 'PanopticFPN')
#: the key of the box AP in Detectron2's ``metrics.json`` (``COCOEvaluator``'s ``bbox`` / ``AP``, in percent)
METRIC = 'bbox/AP'
#: where a user is sent when a Detectron2 config cannot be converted automatically
D2_MANUAL_FIX = ('Make the change by hand as README.md, section "Detectron2", shows (the paste-in lines for a yacs '
                 'config) and train it with tools/d2_train.py.')


def config_kind(path: str) -> str | None:
    """``'yacs'`` or ``'lazy'`` for a Detectron2 config (by its content), ``None`` for anything else."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    if path.endswith('.py'):
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return None
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or '' for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        return 'lazy' if any(n == 'detectron2' or n.startswith('detectron2.') for n in names) else None
    if path.endswith(('.yaml', '.yml')):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
        if isinstance(data, dict) and data and all(k == '_BASE_' or k in SECTIONS for k in data):
            return 'yacs'
    return None


def d2_opts(options: Sequence[str]) -> list[str]:
    """``--det-options`` (``KEY=VALUE``) as Detectron2's trailing ``KEY VALUE`` options."""
    out = []
    for item in options:
        key, _, value = item.partition('=')
        out += [key.strip(), value]
    return out


def write_d2_leaf(config: str, backbone_file: str, out_path: str, work_dir: str,
                  options: Sequence[str] = ()) -> dict[str, Any]:
    """Write the leaf that fine-tunes a user's Detectron2 config from an exported backbone file.

    Args:
        config: The user's yacs ``.yaml`` or LazyConfig ``.py`` (:func:`config_kind`).
        backbone_file: An exported backbone (``tools/export_backbone.py``) with ``model_name`` metadata.
        out_path: Where the leaf is written (atomically); its suffix is the config's (``.yaml`` / ``.py``).
        work_dir: The fine-tune's output folder (``OUTPUT_DIR`` / ``train.output_dir``).
        options: ``--det-options`` (``KEY=VALUE``): applied when the config is read, and passed on the command line.

    Returns:
        dict with ``config`` (``out_path``), ``metric`` (:data:`METRIC`), ``changes`` (one sentence each) and
        ``args`` (the ``tools/d2_train.py`` command).

    Raises:
        ValueError: not a Detectron2 config, or one that cannot be converted automatically (the message says why).
    """
    from . import common
    kind = config_kind(config)
    info = common.read_backbone_file(backbone_file)
    extras = common.backbone_extras(info)
    if extras.get('cifar_stem') or 'stem_act' in extras:
        raise ValueError(f'{info["path"]} was pretrained with {extras}, which MODEL.TIMM has no key for; fine-tune '
                         f'it through an mmdet config instead (--det-config my_mmdet.py)')
    if kind == 'lazy':
        changes, opts = write_lazy_leaf(osp.abspath(config), info, out_path, work_dir, list(options))
    elif kind == 'yacs':
        opts = d2_opts(options)
        changes = _write_yacs_leaf(osp.abspath(config), info, out_path, work_dir, opts)
    else:
        raise ValueError(f'{config} is not a Detectron2 config (a yacs .yaml of MODEL/DATASETS/... sections or '
                         f'_BASE_, or a LazyConfig .py that imports detectron2)')
    args = ['tools/d2_train.py', '--config-file', out_path, *opts]
    return dict(config=out_path, metric=METRIC, changes=changes, args=args)


def _refuse(config: str, what: str) -> ValueError:
    return ValueError(f'{config}: {what}. {D2_MANUAL_FIX}')


def _write_yacs_leaf(config: str, info: Mapping, out_path: str, work_dir: str, opts: list[str]) -> list[str]:
    """The yacs leaf: ``_BASE_`` the user's config, our keys on top; returns the changes."""
    from mixskd_mm.detectron2.backbone import NORMS, TimmBackbone  # Detectron2 loads only for a Detectron2 config
    from mixskd_mm.detectron2.pixels import expected_stats
    from mixskd_mm.detectron2.train import load_yacs_config
    cfg = load_yacs_config(config, opts)
    old = cfg.MODEL.BACKBONE.NAME
    if cfg.MODEL.META_ARCHITECTURE not in BOX_MODELS:
        raise _refuse(config, f'MODEL.META_ARCHITECTURE {cfg.MODEL.META_ARCHITECTURE!r} has no box AP to compare '
                              f'(known: {", ".join(BOX_MODELS)})')
    if old not in BUILDERS:
        raise _refuse(config, f'MODEL.BACKBONE.NAME {old!r} is not an FPN ResNet builder this can replace (known: '
                              f'{", ".join(sorted(BUILDERS))}); C4 / DC5 models keep res5 in their heads')
    if not cfg.DATASETS.TEST:
        raise _refuse(config, 'DATASETS.TEST is empty, so there is no box AP to compare')
    features = list(cfg.MODEL.FPN.IN_FEATURES)
    norm = cfg.MODEL.RESNETS.NORM if cfg.MODEL.RESNETS.NORM in NORMS else 'FrozenBN'
    try:
        built = TimmBackbone(info['model_name'], out_features=features, weights=info['path'], norm=norm)
    except ValueError as err:
        raise _refuse(config, str(err)) from None
    mean, std = expected_stats(info['model_name'], built.pretrained_cfg)
    timm = dict(NAME=info['model_name'], WEIGHTS=info['path'], OUT_FEATURES=features, NORM=norm)
    body = {'_BASE_': config, 'MODEL': dict(BACKBONE=dict(NAME=BUILDERS[old]), WEIGHTS='', TIMM=timm,
                                            PIXEL_MEAN=mean, PIXEL_STD=std),
            'INPUT': dict(FORMAT='RGB'), 'OUTPUT_DIR': work_dir}
    changes = [f'MODEL.BACKBONE.NAME: {old} -> {BUILDERS[old]} over MODEL.TIMM.NAME {info["model_name"]!r} '
               f'(out features {features}, NORM {norm}) loading {info["path"]}',
               f'MODEL.WEIGHTS: {cfg.MODEL.WEIGHTS!r} -> \'\' (the backbone starts from MODEL.TIMM.WEIGHTS)',
               f'INPUT.FORMAT: {cfg.INPUT.FORMAT} -> RGB; MODEL.PIXEL_MEAN: {list(cfg.MODEL.PIXEL_MEAN)} -> {mean}; '
               f'MODEL.PIXEL_STD: {list(cfg.MODEL.PIXEL_STD)} -> {std} (the backbone\'s training, 0-255 scale)',
               f'OUTPUT_DIR: {work_dir}']
    header = [f'# Written by mixskd_mm.compare.transfer.d2: fine-tunes {config}', f'#   from {info["path"]}',
              '# Train it with `python tools/d2_train.py --config-file THIS_FILE`. Changed from the base config:']
    text = '\n'.join(header + [f'#   - {c}' for c in changes]) + '\n' + yaml.safe_dump(body, sort_keys=False)
    atomic_write_bytes(text.encode('utf-8'), out_path)
    return changes


def metrics(work_dir: str) -> list[dict]:
    """The records of Detectron2's ``metrics.json`` in ``work_dir`` (``[]`` when none was written yet)."""
    path = osp.join(work_dir, 'metrics.json')
    if not osp.isfile(path):
        return []
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]
