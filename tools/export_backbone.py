"""Export the backbone of a trained checkpoint alone, with timm's own key names.

    python tools/export_backbone.py CHECKPOINT OUT.safetensors     # safetensors + model name metadata
    python tools/export_backbone.py CHECKPOINT OUT.pth             # mmengine .pth, keys `backbone.<timm key>`

Works for mixskd_mm (MixSKD or CE), mmdet and mmseg checkpoints whose backbone is TimmStageBackbone.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mixskd_mm  # noqa: E402,F401
from mixskd_mm.export import BACKBONE_PREFIX, export_backbone  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description='Export a checkpoint\'s backbone (timm key names)')
    p.add_argument('checkpoint', help='mmengine checkpoint (.pth) written by tools/train.py')
    p.add_argument('out', help='output file: .safetensors (recommended) or .pth')
    p.add_argument('--prefix', default=BACKBONE_PREFIX, help='key prefix of the backbone in the checkpoint')
    args = p.parse_args(argv)
    try:
        count, meta = export_backbone(args.checkpoint, args.out, args.prefix)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
    name = meta.get('model_name', 'unknown model')
    print(f'exported {count} backbone tensors of {name} to {args.out}')
    return count


if __name__ == '__main__':
    main()
