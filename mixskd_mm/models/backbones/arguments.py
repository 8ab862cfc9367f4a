"""The keywords a ``TimmStageBackbone`` hands to ``timm.create_model``, from its constructor arguments, its
``arch_args()`` or a config's ``model.backbone`` alike. What an exported file records about the network is
:class:`mixskd_mm.weights.record.BackboneRecord`.
"""
from __future__ import annotations

from collections.abc import Mapping

#: ``TimmStageBackbone``'s own constructor arguments (and a config's ``type``): everything else goes to timm. The
#: backbone's signature must list exactly these (tests/models/backbones/test_timm_stage_backbone.py checks it).
OWN_ARGUMENTS = frozenset({'type', 'self', 'model_name', 'out_indices', 'pretrained', 'frozen_stages', 'norm_eval',
                           'norm_cfg', 'output_stride', 'cifar_stem', 'stem_act', 'init', 'with_cp', 'in_chans',
                           'init_cfg', 'timm_kwargs'})


def timm_args(args: Mapping) -> dict:
    """The ``timm.create_model`` keywords (besides the name and ``pretrained``) of a backbone built from ``args``
    (constructor arguments, ``arch_args()`` or a config's ``model.backbone``): every argument that is not one of
    :data:`OWN_ARGUMENTS`, plus ``in_chans`` / ``output_stride`` where they differ from timm's defaults
    (3 / the model's own stride)."""
    out = {k: v for k, v in args.items() if k not in OWN_ARGUMENTS}
    if args.get('in_chans', 3) != 3:
        out['in_chans'] = args['in_chans']
    if args.get('output_stride') not in (None, 32):
        out['output_stride'] = args['output_stride']
    return out
