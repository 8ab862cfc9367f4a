"""The figures of :mod:`.looks`: confusion matrices (and MixSKD - CE) and the Grad-CAM grid (matplotlib, Agg)."""
from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence

import numpy as np

from .configs import LABELS

CONFUSION_PLOT = 'confusion.png'
CAM_PLOT = 'cam.png'
#: the Grad-CAM grid's inches per image column and per method row (plus margins), and its resolution
CAM_INCHES = (1.9, 2.0)
CAM_MARGINS = (0.8, 0.5)
CAM_DPI = 80


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _matrix(ax, matrix: np.ndarray, classes: Sequence[str], title: str, diverging: bool) -> None:
    """One matrix with its values written in the cells (rows the true class, columns the prediction)."""
    limit = max(float(np.abs(matrix).max()), 1e-9)
    ax.imshow(matrix, cmap='RdBu_r' if diverging else 'Blues', vmin=-limit if diverging else 0, vmax=limit)
    ticks = range(len(classes))
    ax.set_xticks(ticks)
    ax.set_xticklabels(classes, rotation=45, ha='right', fontsize=7)
    ax.set_yticks(ticks)
    ax.set_yticklabels(classes, fontsize=7)
    ax.set(xlabel='predicted', ylabel='true', title=title)
    if len(classes) <= 12:
        for (t, p), value in np.ndenumerate(matrix):
            text = f'{value:+.1f}' if diverging else f'{value:.1f}'
            ax.text(p, t, '0' if abs(value) < 0.05 else text, ha='center', va='center', fontsize=6,
                    color='white' if not diverging and value > 0.6 * limit else 'black')


def confusion_plot(matrices: Mapping[str, np.ndarray], differences: Mapping[str, np.ndarray], classes: Sequence[str],
                   split: str, out: str) -> str:
    """One panel per method's mean confusion matrix, then one per MixSKD method minus CE; returns the file name."""
    plt = _pyplot()
    panels = [(LABELS[m], v, False) for m, v in matrices.items()]
    panels += [(f'{LABELS[m]} - CE', v, True) for m, v in differences.items()]
    side = max(3.2, 0.35 * len(classes) + 1.5)
    fig, axes = plt.subplots(1, len(panels), figsize=(side * len(panels), side + 0.4), squeeze=False)
    for ax, (title, matrix, diverging) in zip(axes[0], panels):
        _matrix(ax, matrix, classes, title, diverging)
    fig.suptitle(f'Confusion matrices ({split}, mean count per seed)')
    fig.tight_layout()
    fig.savefig(osp.join(out, CONFUSION_PLOT), dpi=90)
    plt.close(fig)
    return CONFUSION_PLOT


def cam_plot(maps: Mapping[str, Sequence], truths: Sequence[int], classes: Sequence[str],
             out: str) -> tuple[str, tuple[int, int]]:
    """The Grad-CAM grid: one row per method, one column per image, each map titled with the method's prediction
    (green when right, red when wrong) and the first row also with the image's true class.

    Args:
        maps: Per method, one :class:`~mixskd_mm.visualization.grad_cam.CamMap` per image.
        truths: The true class of each image.
        classes: Class names.
        out: The folder.

    Returns:
        ``(file name, (rows, columns))`` of the figure's grid of maps.
    """
    plt = _pyplot()
    rows, cols = len(maps), len(truths)
    size = (CAM_INCHES[0] * cols + CAM_MARGINS[0], CAM_INCHES[1] * rows + CAM_MARGINS[1])
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, layout='constrained')
    for r, (method, method_maps) in enumerate(maps.items()):
        for c, (cam_map, truth) in enumerate(zip(method_maps, truths)):
            ax = axes[r][c]
            ax.imshow(cam_map.overlay())
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f'true: {classes[truth]}', fontsize=8)
            ax.set_xlabel(f'pred: {classes[cam_map.predicted]}', fontsize=8,
                          color='tab:green' if cam_map.predicted == truth else 'tab:red')
        axes[r][0].set_ylabel(LABELS[method], fontsize=9)
    fig.suptitle('Grad-CAM of each deployable model (first seed), last stage', fontsize=10)
    fig.savefig(osp.join(out, CAM_PLOT), dpi=CAM_DPI)
    plt.close(fig)
    return CAM_PLOT, (int(axes.shape[0]), int(axes.shape[1]))
