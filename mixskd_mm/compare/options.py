"""The checks of ``tools/compare.py``'s options, all made before any data is read or any run starts.

Each refusal is a ``SystemExit`` whose message names the option, the value given and the values it takes, e.g.
``--epochs 0: expected an integer >= 1``; :func:`check_options` runs them all from
:func:`mixskd_mm.compare.cli.parse_args`.
"""
from __future__ import annotations

import argparse
import math
import os.path as osp

from mixskd_mm.utils.folders import folder_problem

from .sources import EMBEDDED

#: the ``--img-size`` range accepted: from 16 (a stride-32 network keeps a pixel for its last stages) to 1024 (far
#: above the default rule's 224)
IMG_SIZE_RANGE = (16, 1024)
#: seeds are handed to numpy, which takes 0 .. 2**32 - 1
SEED_MAX = 2 ** 32 - 1


def _refuse(option: str, value: object, expected: str) -> None:
    raise SystemExit(f'{option} {value}: expected {expected}')


def _at_least(option: str, value: int | None, low: int) -> None:
    """Refuse an integer option below ``low``; ``None`` (the option's default) passes."""
    if value is not None and value < low:
        _refuse(option, value, f'an integer >= {low}')


def _numbers(args: argparse.Namespace) -> None:
    """The numeric options: counts, sizes, rates and seeds."""
    for option, low in (('epochs', 1), ('batch', 1), ('max_per_class', 1), ('per_class', 1), ('val_per_class', 1),
                        ('det_iters', 1), ('seg_iters', 1), ('jobs', 1), ('workers', 0), ('tune', 1),
                        ('cam_images', 0), ('robustness_images', 0)):
        _at_least('--' + option.replace('_', '-'), getattr(args, option), low)
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        _refuse('--lr', args.lr, 'a number > 0 (the SGD learning rate), or leave it out for 0.05 * batch / 64')
    low, high = IMG_SIZE_RANGE
    if args.img_size is not None and not low <= args.img_size <= high:
        _refuse('--img-size', args.img_size, f'an integer in {low}..{high} (the side of the square training crops), '
                                             f'or leave it out for the median image side in 32..224')
    if not 0 < args.val_fraction < 1:
        _refuse('--val-fraction', args.val_fraction, 'a number between 0 and 1, both excluded (e.g. 0.2)')
    bad = [s for s in args.seeds if not 0 <= s <= SEED_MAX]
    if bad:
        _refuse('--seeds', ' '.join(map(str, args.seeds)), f'integers in 0..{SEED_MAX}; {bad} are not')
    if args.transfer_seeds is not None and not 1 <= args.transfer_seeds <= len(args.seeds):
        _refuse('--transfer-seeds', args.transfer_seeds,
                f'an integer in 1..{len(args.seeds)} (the number of --seeds), or leave it out for all')


def _gpus(value: str | None) -> None:
    """``--gpus``: comma-separated GPU ids, each a non-negative integer, none twice."""
    if value is None:
        return
    ids = [g.strip() for g in value.split(',') if g.strip()]
    if not ids or not all(g.isdigit() for g in ids) or len(set(map(int, ids))) != len(ids):
        _refuse('--gpus', repr(value), 'comma-separated GPU ids: distinct integers >= 0, e.g. 0,1')


def _key_values(args: argparse.Namespace) -> None:
    """``--sweep KEY=V1,V2,...`` and ``--det-options`` / ``--seg-options KEY=VALUE``."""
    from .study import parse_sweep
    try:
        parse_sweep(args.sweep)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    for option in ('det_options', 'seg_options'):
        for item in getattr(args, option):
            key, sep, _ = item.partition('=')
            if not sep or not key.strip():
                _refuse('--' + option.replace('_', '-'), repr(item),
                        'KEY=VALUE config overrides, e.g. train_cfg.max_epochs=2')


def _paths(args: argparse.Namespace) -> None:
    """The files and folders named: they exist and are of the right kind; ``--out`` is (or can be) a folder."""
    from mixskd_mm.engine.runner_setup import CONFIG_SUFFIXES
    if args.data != EMBEDDED and not osp.exists(args.data):
        _refuse('--data', repr(args.data), f'class folders (DIR/<class>/<images>), an annotation file '
                                           f'(train.txt of "path label" lines), or {EMBEDDED!r}; no such file or '
                                           f'folder')
    for option, task in (('det_config', 'mmdet'), ('seg_config', 'mmseg')):
        path = getattr(args, option)
        suffix = osp.splitext(path or '')[1]
        if path is not None and not (osp.isfile(path) and suffix in CONFIG_SUFFIXES):
            what = ('a folder' if osp.isdir(path) else 'no such file') if not osp.isfile(path) else \
                f'a {suffix or "suffix-less"} file'
            _refuse('--' + option.replace('_', '-'), repr(path),
                    f'your {task} config file ({", ".join(CONFIG_SUFFIXES)}); {what}')
    for option, expected in (('det_data', 'a COCO-format folder (annotations/ + images)'),
                             ('seg_data', 'an mmseg-layout folder (images + annotation masks)'),
                             ('data_root', 'the Fashion-MNIST IDX folder')):
        path = getattr(args, option)
        if path is not None and not osp.isdir(path):
            what = 'a file' if osp.exists(path) else 'no such folder'
            _refuse('--' + option.replace('_', '-'), repr(path), f'{expected}; {what}')
    problem = folder_problem(args.out)
    if problem and problem[1] == 'file':
        _refuse('--out', repr(args.out), f'a folder (created if missing) for the comparison; {problem[0]!r} is a file')
    if problem:
        _refuse('--out', repr(args.out), f'a folder you can write to; {problem[0]!r} is not writable')


def _model(name: str) -> None:
    """``--model``: a timm model name (a pretrained tag such as ``resnet18.a1_in1k`` is allowed)."""
    import difflib

    import timm
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        _refuse('--model', repr(name), f'a timm CNN name (timm.list_models()); close names: {close or "none"}')


def check_options(args: argparse.Namespace) -> None:
    """Check every option of ``tools/compare.py`` as parsed, before anything is read or run.

    Args:
        args: ``build_parser().parse_args()``, before :func:`~mixskd_mm.compare.cli.parse_args` fills in defaults
            (``--lr``, ``--jobs`` and ``--img-size`` may be ``None``).

    Raises:
        SystemExit: the first bad option, with its value and the values it takes.
    """
    _numbers(args)
    _gpus(args.gpus)
    _key_values(args)
    _paths(args)
    _model(args.model)
