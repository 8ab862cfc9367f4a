"""What a ``TimmStageBackbone``'s constructor arguments say: the metadata an exported file records about the
network, and the keywords the backbone hands to ``timm.create_model``. Both work on a built backbone's
``arch_args()`` and on a config's ``model.backbone`` alike, so a file exported from a live run and one exported
from its checkpoint say the same.
"""
from __future__ import annotations

import inspect
import json
from collections.abc import Mapping

#: the architecture options an exported file records when they differ from these defaults (``model_name``,
#: ``out_indices`` and the stem variant ``cifar_stem`` always); an absent option means its default to every reader
#: (:mod:`mixskd_mm.weights.files`)
EXPORTED_OPTIONS = dict(stem_act=True, output_stride=None, in_chans=3)


def export_metadata_of(args: Mapping) -> dict[str, str]:
    """The metadata an exported weight file records for a backbone built from ``args`` (its constructor arguments
    or a config's ``model.backbone``): ``model_name``, ``out_indices``, ``cifar_stem`` and every
    :data:`EXPORTED_OPTIONS` entry that differs from its default, as strings (JSON for non-strings)."""
    values = dict(model_name=args['model_name'], out_indices=list(args.get('out_indices', (1, 2, 3, 4))),
                  cifar_stem=bool(args.get('cifar_stem', False)))
    values.update({k: args[k] for k, default in EXPORTED_OPTIONS.items() if args.get(k, default) != default})
    return {k: v if isinstance(v, str) else json.dumps(list(v) if isinstance(v, tuple) else v)
            for k, v in values.items()}


def timm_args(args: Mapping) -> dict:
    """The ``timm.create_model`` keywords (besides the name and ``pretrained``) of a backbone built from ``args``
    (constructor arguments, ``arch_args()`` or a config's ``model.backbone``): every argument that is not one of
    :class:`TimmStageBackbone`'s own, plus ``in_chans`` / ``output_stride`` where they differ from timm's defaults
    (3 / the model's own stride)."""
    from .timm_stage_backbone import TimmStageBackbone
    own = set(inspect.signature(TimmStageBackbone.__init__).parameters) | {'type'}
    out = {k: v for k, v in args.items() if k not in own}
    if args.get('in_chans', 3) != 3:
        out['in_chans'] = args['in_chans']
    if args.get('output_stride') not in (None, 32):
        out['output_stride'] = args['output_stride']
    return out
