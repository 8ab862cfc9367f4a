"""``tools/export_backbone.py`` / ``mixskd-export``: export the backbone of a trained checkpoint alone, with timm's
own key names, as one weight file or as a timm model folder (``--format timm``: weights, ``config.json`` and a model
card with the run's metrics).

Works for mixskd_mm (MixSKD or CE), mmdet and mmseg checkpoints whose backbone is TimmStageBackbone.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from collections.abc import Sequence

from safetensors import safe_open

from mixskd_mm.export.backbone_file import BACKBONE_PREFIX, export_backbone, read_checkpoint


def export_folder(args: argparse.Namespace) -> int:
    """Write the timm folder; returns the tensor count."""
    from mixskd_mm.export.timm_folder import write_timm_folder
    state, meta = read_checkpoint(args.checkpoint)
    work_dir = args.work_dir or osp.dirname(osp.abspath(args.checkpoint))
    config = write_timm_folder(state, meta, args.out, work_dir=work_dir, prefix=args.prefix,
                               keep_classifier=not args.no_classifier)
    own = config['mixskd_mm']
    with safe_open(osp.join(args.out, 'model.safetensors'), framework='pt') as f:
        count = len(list(f.keys()))
    print(f"exported {count} tensors of {config['architecture']} (num_classes={config['num_classes']}) "
          f'as a timm folder to {args.out}')
    if not own['timm_compatible']:
        print('note: plain timm cannot build this network (' + '; '.join(own['not_timm_compatible_because'])
              + f"); load it with {own['load_with']}")
    return count


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of ``tools/export_backbone.py``."""
    p = argparse.ArgumentParser(description='Export a checkpoint\'s backbone (timm key names)')
    p.add_argument('checkpoint', help='mmengine checkpoint (.pth) written by tools/train.py')
    p.add_argument('out', help='output file (.safetensors recommended, or .pth), or a folder with --format timm')
    p.add_argument('--format', choices=('file', 'timm'), default='file',
                   help='file: one weight file (default); timm: a timm model folder with config.json and model card')
    p.add_argument('--no-classifier', action='store_true',
                   help='timm folder: drop the trained classifier (num_classes=0) instead of keeping it')
    p.add_argument('--work-dir', help='timm folder: the run\'s work dir, whose log gives the model card\'s metrics '
                                      '(default: the checkpoint\'s folder)')
    p.add_argument('--prefix', default=BACKBONE_PREFIX, help='key prefix of the backbone in the checkpoint')
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Export; returns the tensor count. A wrong checkpoint, output or work dir ends the program with one ``error:``
    line."""
    args = parse_args(argv)
    if args.format == 'timm' and args.out.endswith(('.safetensors', '.pth', '.pt')):
        sys.exit(f'error: --format timm writes a folder, but {args.out!r} looks like a file name; pass a folder')
    if args.format == 'timm' and osp.exists(args.out) and not osp.isdir(args.out):
        sys.exit(f'error: --format timm writes a folder, but {args.out!r} is an existing file; pass a folder')
    if args.format == 'file' and osp.isdir(args.out):
        sys.exit(f'error: OUT {args.out!r} is a folder; expected a file name ending in .safetensors or .pth '
                 f'(or pass --format timm to write a timm model folder into it)')
    if args.work_dir and not osp.isdir(args.work_dir):
        sys.exit(f"error: --work-dir {args.work_dir!r} is not a folder; expected the run's work dir (the one "
                 f'holding its logs), or leave --work-dir out')
    try:
        if args.format == 'timm':
            return export_folder(args)
        count, meta = export_backbone(args.checkpoint, args.out, args.prefix)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    name = meta.get('model_name', 'unknown model')
    print(f'exported {count} backbone tensors of {name} to {args.out}')
    return count


def cli(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``tools/export_backbone.py`` and ``mixskd-export``."""
    main(argv)
