"""Export the backbone of a trained checkpoint alone, with timm's own key names.

    python tools/export_backbone.py CHECKPOINT OUT.safetensors     # safetensors + model name metadata
    python tools/export_backbone.py CHECKPOINT OUT.pth             # mmengine .pth, keys `backbone.<timm key>`
    python tools/export_backbone.py CHECKPOINT OUT_DIR --format timm
        # a timm model folder: model.safetensors + config.json + README.md (model card with the run's metrics);
        # loads with timm.create_model('local-dir:OUT_DIR', pretrained=True), ready to upload to the Hub

Works for mixskd_mm (MixSKD or CE), mmdet and mmseg checkpoints whose backbone is TimmStageBackbone. The code is
:mod:`mixskd_mm.cli.export_backbone`, installed as the console script ``mixskd-export`` too.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without install

# main: the tests run it in-process
from mixskd_mm.cli.export_backbone import cli, main  # noqa: F401

if __name__ == '__main__':
    cli()
