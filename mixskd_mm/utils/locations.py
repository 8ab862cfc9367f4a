"""Where mixskd_mm's recipes (``configs/``) and, in a source checkout, its command-line tools (``tools/``) are.

The recipes are found without a checkout: a source checkout's own ``configs/`` (beside the ``mixskd_mm`` package it
was imported from) comes first, so what you edit there is what runs and the paths written into generated configs
stay those of the checkout; an installed package's copy, ``mixskd_mm/.mim/configs`` (where mmdet and mmseg ship
theirs for ``mim``), comes next. A wheel ships that copy with a package-data entry that puts the checkout's
``configs/`` under ``mixskd_mm/.mim/configs``.

The tools (``tools/train.py``, ``tools/test.py``) exist in a checkout only: :func:`checkout_dir` says which one, or
that there is none.

Example:
    >>> config_path('demo/fpn_test-resnet_1xb8-300i_composed-fashion.py')  # doctest: +SKIP
    '/home/me/mixskd_mm/configs/demo/fpn_test-resnet_1xb8-300i_composed-fashion.py'
"""
from __future__ import annotations

import os.path as osp

#: the ``mixskd_mm`` package folder
PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: a file every copy of our configs holds: tells our ``configs/`` from another project's folder of that name
_MARKER = osp.join('_base_', 'default_runtime.py')


def _candidates() -> list:
    return [osp.join(osp.dirname(PACKAGE_DIR), 'configs'), osp.join(PACKAGE_DIR, '.mim', 'configs')]


def configs_dir() -> str:
    """The folder of mixskd_mm's configs: the checkout's ``configs/``, else the package data ``mixskd_mm/.mim/configs``.

    Returns:
        Its absolute path.

    Raises:
        FileNotFoundError: neither holds our configs (a package installed without its package data).
    """
    for folder in _candidates():
        if osp.isfile(osp.join(folder, _MARKER)):
            return folder
    raise FileNotFoundError(f'mixskd_mm configs not found in {" or ".join(_candidates())}: use a checkout, or a '
                            f'package built with its configs (package data mixskd_mm/.mim/configs)')


def config_path(relative: str) -> str:
    """The absolute path of one of our configs, ``relative`` to the configs folder (``'demo/fpn_....py'``).

    Raises:
        FileNotFoundError: no configs folder, or no such file in it.
    """
    path = osp.join(configs_dir(), relative)
    if not osp.isfile(path):
        raise FileNotFoundError(f'config not found: {path!r}')
    return path


def checkout_dir() -> str | None:
    """The source checkout ``mixskd_mm`` was imported from (the folder holding ``tools/train.py`` beside the
    package), or ``None`` for an installed package."""
    root = osp.dirname(PACKAGE_DIR)
    return root if osp.isfile(osp.join(root, 'tools', 'train.py')) else None
