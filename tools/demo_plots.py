"""The demo's PNG plots: training losses, result bars, and predictions of the fine-tuned models on held-out scenes.

Plain functions over the dicts tools/demo.py's steps return (see ``demo_report.py`` for the report itself).
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
from typing import TYPE_CHECKING, Dict, List, Sequence

from demo_report import METHODS, curve, scalars

if TYPE_CHECKING:
    import numpy as np


def write_plots(runs: Sequence[Dict], transfers: Sequence[Dict], table: Dict, data: Dict, out: str) -> None:
    """Draw every PNG of the demo into ``out`` with matplotlib's Agg backend (no display needed).

    Args:
        runs: The pretraining runs.
        transfers: The fine-tunes.
        table: The summary of :func:`summarise`.
        data: The composed transfer data.
        out: The output folder.
    """
    import matplotlib
    matplotlib.use('Agg')
    import mixskd_mm  # noqa: F401  (weights-only loading of the fine-tuned checkpoints)
    plot_curves(runs, transfers, osp.join(out, 'loss_curves.png'))
    plot_results(table, osp.join(out, 'results.png'))
    plot_predictions(transfers, data, out)


def plot_curves(runs: Sequence[Dict], transfers: Sequence[Dict], path: str) -> None:
    """Plot the training losses: the pretraining runs of both methods, and the fine-tunes from both backbones.

    Args:
        runs: The pretraining runs (their curves are read from their ``work_dir``).
        transfers: The fine-tunes, with their ``loss`` curves.
        path: The PNG to write.
    """
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for ax, method in zip(axes[0], METHODS):
        for r in (r for r in runs if r['method'] == method):
            c = curve(scalars(r['work_dir']))
            ax.plot(c['step'], c['value'], label=f'seed {r["seed"]}')
        ax.set(title=f'{method} pretraining: training loss', xlabel='iteration', ylabel='loss')
        ax.legend()
    for ax, task in zip(axes[1], ('detection', 'segmentation')):
        for t in (t for t in transfers if t['task'] == task):
            ax.plot(t['loss']['step'], t['loss']['value'], label=f'{t["method"]} backbone')
        ax.set(title=f'{task} fine-tune: training loss', xlabel='iteration', ylabel='loss')
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_results(table: Dict, path: str) -> None:
    """Plot bars of top-1 (mean ± std over seeds), box mAP and mIoU for both methods.

    Args:
        table: The summary of :func:`summarise`.
        path: The PNG to write.
    """
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    panels = (('top1_mean', 'top1_std', 'backbone top-1 (%)'), ('box_mAP', None, 'box mAP (%)'),
              ('mIoU', None, 'mIoU (%)'))
    for ax, (key, err, title) in zip(axes, panels):
        values = [table[m][key] for m in METHODS]
        bars = ax.bar(METHODS, values, yerr=[table[m][err] for m in METHODS] if err else None, capsize=6,
                      color=['tab:gray', 'tab:blue'])
        ax.bar_label(bars, fmt='%.2f', padding=3)
        ax.set(title=title, ylim=(min(values) * 0.9 if key == 'top1_mean' else 0, max(values) * 1.12 + 1e-6))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _val_images(data: Dict, count: int) -> List[str]:
    """The first ``count`` validation scene files, in name order."""
    return sorted(glob.glob(osp.join(data['root'], 'images', 'val', '*.png')))[:count]


def plot_predictions(transfers: Sequence[Dict], data: Dict, out: str, count: int = 4, score_thr: float = 0.3) -> None:
    """Draw the fine-tuned models' predictions on a few validation scenes next to the ground truth.

    The models are loaded in this process with mmdet's ``init_detector`` / mmseg's ``init_model`` from the configs
    and checkpoints the fine-tunes wrote.

    Args:
        transfers: The fine-tunes (``task``, ``method``, ``config``, ``checkpoint``).
        data: The composed transfer data (``root``, ``ann_files``, ``classes``).
        out: The folder of ``predictions_detection.png`` and ``predictions_segmentation.png``.
        count: How many validation scenes to draw.
        score_thr: The lowest score of a drawn predicted box.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle
    from PIL import Image
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
                for row, (title, boxes) in enumerate(rows):
                    ax = axes[row][col]
                    ax.imshow(image)
                    for (x, y, w, h), label, score in boxes:
                        ax.add_patch(Rectangle((x, y), w, h, fill=False, lw=1.5, color=colours(label)))
                        text = data['classes'][label] + (f' {score:.2f}' if score is not None else '')
                        ax.text(x, y - 1, text, color='white', fontsize=6, bbox=dict(fc=colours(label), pad=0.5, lw=0))
                    ax.set_title(title, fontsize=8)
            else:
                gt = np.asarray(Image.open(path.replace(f'{os.sep}images{os.sep}', f'{os.sep}labels{os.sep}')))
                rows = [('ground truth', gt)] + [(f'{t["method"]} backbone', _segment(t, path)) for t in runs]
                for row, (title, seg) in enumerate(rows):
                    ax = axes[row][col]
                    overlay = image.copy()
                    for label in range(1, len(data['classes']) + 1):
                        colour = np.array(colours(label - 1)[:3]) * 255
                        overlay[seg == label] = (0.4 * overlay[seg == label] + 0.6 * colour).astype(np.uint8)
                    ax.imshow(overlay)
                    ax.set_title(title, fontsize=8)
        for ax in axes.flat:
            ax.axis('off')
        fig.tight_layout()
        fig.savefig(osp.join(out, f'predictions_{task}.png'), dpi=90)
        plt.close(fig)


_MODELS: Dict[str, object] = {}  # the loaded fine-tuned models, by checkpoint


def _detect(run: Dict, image: str, score_thr: float) -> List:
    """``[([x, y, w, h], label, score), ...]`` of a fine-tuned detector on one image file."""
    from mmdet.apis import inference_detector, init_detector
    if run['checkpoint'] not in _MODELS:
        _MODELS[run['checkpoint']] = init_detector(run['config'], run['checkpoint'], device='cpu')
    pred = inference_detector(_MODELS[run['checkpoint']], image).pred_instances
    keep = pred.scores >= score_thr
    return [([x1, y1, x2 - x1, y2 - y1], int(label), float(score)) for (x1, y1, x2, y2), label, score in
            zip(pred.bboxes[keep].tolist(), pred.labels[keep].tolist(), pred.scores[keep].tolist())]


def _segment(run: Dict, image: str) -> np.ndarray:
    """The predicted label map of a fine-tuned segmentor on one image file."""
    from mmseg.apis import inference_model, init_model
    if run['checkpoint'] not in _MODELS:
        _MODELS[run['checkpoint']] = init_model(run['config'], run['checkpoint'], device='cpu')
    return inference_model(_MODELS[run['checkpoint']], image).pred_sem_seg.data[0].numpy()
