"""``tools/vis_cam.py`` / ``mixskd-vis-cam``: Grad-CAM maps of a trained classifier's deployable model (backbone +
classifier, the last stage) on any images, from a training config and its checkpoint or from a timm model folder.

    python tools/vis_cam.py CONFIG CHECKPOINT IMAGE... [--out DIR] [--target-class N]
    python tools/vis_cam.py TIMM_FOLDER IMAGE... [--out DIR] [--target-class N]

Writes ``DIR/<image name>_cam.png`` per image (the image the model saw, and the map over it) and prints each
prediction.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from collections.abc import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of ``tools/vis_cam.py``."""
    p = argparse.ArgumentParser(
        description='Grad-CAM maps of a classifier\'s deployable model (backbone + classifier, its last stage)',
        usage='%(prog)s (CONFIG CHECKPOINT | TIMM_FOLDER) IMAGE... [--out DIR] [--target-class N]')
    p.add_argument('paths', nargs='+', metavar='PATH',
                   help='a training config (.py) and its checkpoint (.pth), or a timm model folder '
                        '(tools/export_backbone.py --format timm); then the images')
    p.add_argument('--out', default='cam', help='folder for the PNGs (default: ./cam)')
    p.add_argument('--target-class', type=int, default=None,
                   help='explain this class index in every image (default: each image\'s predicted class)')
    return p.parse_args(argv)


def split_paths(paths: Sequence[str]) -> tuple[str, str | None, list[str]]:
    """``(config or folder, checkpoint or None, images)`` of the positional arguments.

    Raises:
        ValueError: too few paths, naming what is missing.
    """
    if paths and osp.isdir(paths[0]):
        source, checkpoint, images = paths[0], None, list(paths[1:])
        if images and images[0].endswith(('.pth', '.pt')):
            raise ValueError(f'{source!r} is a folder (a timm model folder holds its own weights), so '
                             f'{images[0]!r} is not needed; give TIMM_FOLDER IMAGE..., or CONFIG CHECKPOINT IMAGE...')
    elif len(paths) >= 2:
        source, checkpoint, images = paths[0], paths[1], list(paths[2:])
    else:
        source, checkpoint, images = paths[0], None, []
        if not osp.exists(source):
            raise ValueError(f'{source!r} does not exist; give CONFIG CHECKPOINT IMAGE... or TIMM_FOLDER IMAGE...')
        raise ValueError(f'{source!r} is a file, so it is taken as a config: give its CHECKPOINT and the images')
    if not images:
        raise ValueError('no IMAGE given: name one or more image files after the '
                         + ('timm folder' if checkpoint is None else 'checkpoint'))
    missing = [i for i in images if not osp.isfile(i)]
    if missing:
        raise ValueError(f'image(s) not found: {missing}')
    return source, checkpoint, images


def draw(path: str, cam_map, deployable, out_dir: str) -> str:
    """Write the image the model saw beside its map; returns the PNG's path."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(6, 3.3))
    axes[0].imshow(cam_map.image)
    axes[1].imshow(cam_map.overlay())
    for ax, title in zip(axes, ('input', f'Grad-CAM: {deployable.class_name(cam_map.target)}')):
        ax.set_title(title, fontsize=9)
        ax.axis('off')
    predicted = cam_map.predicted
    fig.suptitle(f'{osp.basename(path)}: {deployable.class_name(predicted)} (p={cam_map.probs[predicted]:.2f}); '
                 f'{deployable.source}, {deployable.layer_name}', fontsize=8)
    fig.tight_layout()
    out = osp.join(out_dir, f'{osp.splitext(osp.basename(path))[0]}_cam.png')
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Draw the maps; returns per image its ``image``, ``png``, ``predicted`` (index), ``label`` (name), ``prob``,
    ``target`` and ``peak`` (row, column in the model's input). Bad input ends the program with one ``error:`` line."""
    from mixskd_mm.datasets.imagenet import read_rgb
    from mixskd_mm.visualization.deployable import load_deployable
    from mixskd_mm.visualization.grad_cam import grad_cam
    args = parse_args(argv)
    try:
        source, checkpoint, images = split_paths(args.paths)
        deployable = load_deployable(source, checkpoint)
        maps = grad_cam(deployable, [read_rgb(path) for path in images], args.target_class)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        sys.exit(f'error: {err}')
    os.makedirs(args.out, exist_ok=True)
    out = []
    for path, cam_map in zip(images, maps):
        png = draw(path, cam_map, deployable, args.out)
        name = deployable.class_name(cam_map.predicted)
        print(f'{path}: {name} (class {cam_map.predicted}, p={cam_map.probs[cam_map.predicted]:.3f}) -> {png}')
        out.append(dict(image=path, png=png, predicted=cam_map.predicted, label=name,
                        prob=float(cam_map.probs[cam_map.predicted]), target=cam_map.target, peak=cam_map.peak))
    return out


def cli(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``tools/vis_cam.py`` and ``mixskd-vis-cam``."""
    main(argv)
