"""Grad-CAM maps of each method's deployable model on the chosen images of a comparison (see :mod:`.looks`)."""
from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .results import RunResult


def split_images(config: str, split: str) -> list[str]:
    """The image paths of ``split`` in a run's config, in its loader's order (row ``i`` of its score file).

    Raises:
        ValueError: a config without that split's loader.
    """
    from mmengine.config import Config

    import mixskd_mm.datasets  # noqa: F401  (registers the datasets)
    from mixskd_mm.registry import DATASETS
    loader = Config.fromfile(config).get(f'{split}_dataloader')
    if not loader:
        raise ValueError(f'{config} has no {split}_dataloader, so its {split} images are unknown')
    return list(DATASETS.build(dict(loader['dataset'])).paths)


#: the cells a side a Grad-CAM map needs to show where a model looks: the maps are of the deepest stage that has them
#: at the comparison's crop size (the last stage when it has: 224 px on a ResNet gives 7x7; at 28 px its 1x1 map
#: would be blank, so the stride-8 stage's 4x4 is drawn)
MIN_CELLS = 3


def draw_maps(first: Mapping[str, RunResult], chosen: Sequence[tuple[int, str]], predictions: Mapping[str, np.ndarray],
              labels: np.ndarray, classes: Sequence[str], split: str, out: str, img_size: int | None = None) -> dict:
    """Grad-CAM of each method's first seed on the chosen images, drawn into ``out/cam.png`` (one row per method).

    Args:
        first: Each method's first seed's run (at its chosen variant).
        chosen: :func:`~mixskd_mm.compare.looks.choose_images`.
        predictions: Each method's top-1 on every image of the split, from its score file.
        labels: The true class of every image of the split (the score files').
        classes: Class names.
        split: The reported split.
        out: The comparison's folder.

    Returns:
        ``runs`` (method -> run name), ``layer``, ``cells`` (the last stage's map sizes met, rows and columns: the
        maps' own resolution), ``images`` (per image: ``index``, ``path``, ``label``, ``reason``
        and per method its ``predicted`` class, ``label``, ``prob``, ``peak`` and ``scores_predicted``, the score
        file's top-1), ``agrees`` (every shown prediction is the score file's), ``disagreements`` (images of the split
        on which the first seeds differ), ``split_images``, ``grid`` (rows, columns of the figure) and ``plots``;
        with a final checkpoint missing, only ``skipped`` (why) and an empty ``plots``.
    """
    from mixskd_mm.datasets.imagenet import read_rgb
    from mixskd_mm.visualization.deployable import from_checkpoint
    from mixskd_mm.visualization.grad_cam import grad_cam

    from .looks_plots import cam_plot
    missing = [r.run.checkpoint for r in first.values() if not osp.isfile(r.run.checkpoint)]
    if missing:
        return dict(skipped=f'no Grad-CAM maps: final checkpoint(s) missing: {", ".join(missing)}', plots=[])
    paths = split_images(next(iter(first.values())).run.config, split)
    images = [read_rgb(paths[i]) for i, _ in chosen]
    maps, layer = {}, ''
    for method, result in first.items():
        deployable = from_checkpoint(result.run.config, result.run.checkpoint, img_size, MIN_CELLS)
        maps[method], layer = grad_cam(deployable, images), deployable.layer_name
    entries: list[dict[str, Any]] = []
    for j, (index, reason) in enumerate(chosen):
        shown: dict[str, dict[str, Any]] = {m: dict(predicted=maps[m][j].predicted, label=classes[maps[m][j].predicted],
                         prob=float(maps[m][j].probs[maps[m][j].predicted]), peak=list(maps[m][j].peak),
                         scores_predicted=int(predictions[m][index])) for m in maps}
        entries.append(dict(index=index, path=paths[index], label=classes[int(labels[index])], reason=reason,
                            predictions=shown))
    stacked = np.stack(list(predictions.values()))
    name, grid = cam_plot(maps, [int(labels[i]) for i, _ in chosen], classes, out)
    cells = sorted({tuple(m.cells) for group in maps.values() for m in group})
    return dict(runs={m: r.run.name for m, r in first.items()}, layer=layer, cells=[list(c) for c in cells],
                images=entries,
                agrees=all(p['predicted'] == p['scores_predicted'] for e in entries for p in e['predictions'].values()),
                disagreements=int((stacked != stacked[0]).any(axis=0).sum()), split_images=int(stacked.shape[1]),
                grid=list(grid), plots=[name])

