"""Predictions of the demo's fine-tuned detectors and segmentors on held-out composed scenes, beside the truth.

Used by ``tools/demo.py`` after ``tools/compare.py`` has fine-tuned on the composed scenes (``--det-data`` /
``--seg-data``; :mod:`mixskd_mm.datasets.scenes` writes them); the models are loaded in this process from the configs
and checkpoints the fine-tunes wrote.
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def _val_images(data: dict, count: int) -> list[str]:
    """The first ``count`` validation scene files, in name order."""
    return sorted(glob.glob(osp.join(data['root'], 'images', 'val', '*.png')))[:count]


def write_prediction_plots(transfers: Sequence[dict], data: dict, out: str, count: int = 4,
                           score_thr: float = 0.3) -> None:
    """Draw the fine-tuned models' predictions on a few validation scenes next to the ground truth.

    The models are loaded in this process with mmdet's ``init_detector`` / mmseg's ``init_model`` from the configs
    and checkpoints the fine-tunes wrote.

    Args:
        transfers: The fine-tunes (``task``: ``'detection'`` / ``'segmentation'``, ``method`` label, ``config``,
            ``checkpoint``).
        data: The composed transfer data (``root``, ``ann_files``, ``classes``), as ``write_composed_dataset`` returns.
        out: The folder of ``predictions_detection.png`` and ``predictions_segmentation.png``.
        count: How many validation scenes to draw.
        score_thr: The lowest score of a drawn predicted box.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    import mixskd_mm  # noqa: F401  (weights-only loading of the fine-tuned checkpoints)
    images = _val_images(data, count)
    arrays = [np.asarray(Image.open(p).convert('RGB')) for p in images]
    with open(osp.join(data['root'], data['ann_files']['val'])) as f:
        coco = json.load(f)
    by_name = {im['file_name']: im['id'] for im in coco['images']}
    colours = plt.get_cmap('tab10')
    for task in ('detection', 'segmentation'):
        runs = [t for t in transfers if t['task'] == task]
        fig, axes = plt.subplots(1 + len(runs), len(images), figsize=(2.6 * len(images), 2.7 * (1 + len(runs))),
                                 squeeze=False)
        for col, (path, image) in enumerate(zip(images, arrays)):
            if task == 'detection':
                gt = [(a['bbox'], a['category_id'] - 1, None) for a in coco['annotations']
                      if a['image_id'] == by_name[osp.basename(path)]]
                rows = [('ground truth', gt)] + [(f'{t["method"]} backbone', _detect(t, path, score_thr))
                                                 for t in runs]
                _draw_boxes([axes[row][col] for row in range(len(rows))], image, rows, data['classes'], colours)
            else:
                gt_map = np.asarray(Image.open(path.replace(f'{os.sep}images{os.sep}', f'{os.sep}labels{os.sep}')))
                rows = [('ground truth', gt_map)] + [(f'{t["method"]} backbone', _segment(t, path)) for t in runs]
                _draw_label_maps([axes[row][col] for row in range(len(rows))], image, rows, len(data['classes']),
                                 colours)
        for ax in axes.flat:
            ax.axis('off')
        fig.tight_layout()
        fig.savefig(osp.join(out, f'predictions_{task}.png'), dpi=90)
        plt.close(fig)


def _draw_boxes(axes: Sequence, image: np.ndarray, rows: Sequence, classes: Sequence[str], colours) -> None:
    """One scene per axis: the image with the boxes of one row (``(title, [(xywh, label, score or None)])``)."""
    from matplotlib.patches import Rectangle
    for ax, (title, boxes) in zip(axes, rows):
        ax.imshow(image)
        for (x, y, w, h), label, score in boxes:
            ax.add_patch(Rectangle((x, y), w, h, fill=False, lw=1.5, color=colours(label)))
            text = classes[label] + (f' {score:.2f}' if score is not None else '')
            ax.text(x, y - 1, text, color='white', fontsize=6, bbox=dict(fc=colours(label), pad=0.5, lw=0))
        ax.set_title(title, fontsize=8)


def _draw_label_maps(axes: Sequence, image: np.ndarray, rows: Sequence, num_classes: int, colours) -> None:
    """One scene per axis: the image tinted by the label map of one row (``(title, map)``; 0 is background)."""
    import numpy as np
    for ax, (title, seg) in zip(axes, rows):
        overlay = image.copy()
        for label in range(1, num_classes + 1):
            colour = np.array(colours(label - 1)[:3]) * 255
            overlay[seg == label] = (0.4 * overlay[seg == label] + 0.6 * colour).astype(np.uint8)
        ax.imshow(overlay)
        ax.set_title(title, fontsize=8)


_MODELS: dict[str, object] = {}  # the loaded fine-tuned models, by checkpoint


def _detect(run: dict, image: str, score_thr: float) -> list:
    """``[([x, y, w, h], label, score), ...]`` of a fine-tuned detector on one image file."""
    from mmdet.apis import inference_detector, init_detector
    if run['checkpoint'] not in _MODELS:
        _MODELS[run['checkpoint']] = init_detector(run['config'], run['checkpoint'], device='cpu')
    pred = inference_detector(_MODELS[run['checkpoint']], image).pred_instances
    keep = pred.scores >= score_thr
    return [([x1, y1, x2 - x1, y2 - y1], int(label), float(score)) for (x1, y1, x2, y2), label, score in
            zip(pred.bboxes[keep].tolist(), pred.labels[keep].tolist(), pred.scores[keep].tolist())]


def _segment(run: dict, image: str) -> np.ndarray:
    """The predicted label map of a fine-tuned segmentor on one image file."""
    from mmseg.apis import inference_model, init_model
    if run['checkpoint'] not in _MODELS:
        _MODELS[run['checkpoint']] = init_model(run['config'], run['checkpoint'], device='cpu')
    return inference_model(_MODELS[run['checkpoint']], image).pred_sem_seg.data[0].numpy()
