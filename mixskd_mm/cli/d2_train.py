"""``tools/d2_train.py``: Detectron2's training entry with the timm backbone registered.

    python tools/d2_train.py --config-file configs/detectron2/faster_rcnn_timm_r50_fpn_1x_coco.yaml \\
        [--num-gpus N] [--num-machines M --machine-rank R --dist-url URL] [--resume] [--eval-only] [KEY VALUE ...]

The options are Detectron2's own (``default_argument_parser``); a ``.yaml`` config is a yacs config (``MODEL.TIMM``
added, ``_BASE_: "model_zoo:..."`` resolved from the installed package), a ``.py`` one a LazyConfig. ``launch`` starts
one process per GPU; evaluation is ``COCOEvaluator``'s. The code is :mod:`mixskd_mm.detectron2.train`.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence


def cli(argv: Sequence[str] | None = None) -> None:
    """Run :func:`mixskd_mm.detectron2.train.run`; a wrong config or option ends with one ``error:`` line."""
    from mixskd_mm.detectron2.train import run  # Detectron2 is imported here, not when the console script loads
    try:
        run(list(argv) if argv is not None else None)
    except (FileNotFoundError, ValueError, KeyError) as err:
        sys.exit(f'error: {err}')
