"""The paper's auxiliary exit: a fresh copy of the backbone's units after stage k."""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from mixskd_mm.registry import MODELS

from ..backbones import TimmStageBackbone


@MODELS.register_module()
class ReplicateExit(nn.Sequential):
    """The paper's exit: a fresh, unshared copy of every backbone unit after stage ``stage``.

    The copy comes from a new instance of the same timm model, built from the backbone's
    :meth:`~mixskd_mm.models.backbones.TimmStageBackbone.arch_args` (``cifar_stem``, ``stem_act``, ``init``,
    ``output_stride``...): its own random initialisation by the
    backbone's ``init`` scheme (``'torch'`` in the CIFAR paper config, ``'kaiming'`` in the ImageNet one,
    so no exit zeroes the last BN of its blocks either). Exit k therefore ends in a feature map of exactly
    the backbone's final shape, with no adapter layers (Yang et al., MixSKD, ECCV 2022, Sec. 3; BYOT-style
    exits). Weights loading and training options (``pretrained``, ``init_cfg``, ``frozen_stages``,
    ``norm_eval``, ``with_cp``) are not among those arguments.

    Args:
        arch_args: the backbone's architecture, ``TimmStageBackbone.arch_args()`` (or those constructor arguments).
        stage: the timm stage index the exit starts after.

    Example:
        >>> e = ReplicateExit(dict(model_name='resnet18', cifar_stem=True), stage=3)
        >>> e(torch.zeros(2, 256, 8, 8)).shape
        torch.Size([2, 512, 4, 4])
    """

    def __init__(self, arch_args: dict, stage: int) -> None:
        fresh = TimmStageBackbone(**arch_args)
        if stage not in fresh.out_indices[:-1]:
            raise ValueError(f'exit stage {stage} must be one of the non-final out_indices {fresh.out_indices[:-1]}')
        first = fresh.stage_unit_index[stage] + 1
        last = fresh.stage_unit_index[fresh.out_indices[-1]]
        names = list(fresh.units[first:last + 1])
        super().__init__(OrderedDict((name.replace('.', '_'), fresh.get_submodule(name)) for name in names))
        self.stage = stage
        #: the backbone units this exit replicates, in order (timm names)
        self.unit_names = names

    def copy_from(self, backbone: TimmStageBackbone) -> None:
        """Make every unit a copy of the backbone unit it replicates: the same weights and BatchNorm statistics, in
        this exit's own tensors (nothing shared, so the copy trains on its own from here)."""
        for name, unit in zip(self.unit_names, self):
            unit.load_state_dict(backbone.get_submodule(name).state_dict())

    @classmethod
    def backbone_args(cls, backbone: TimmStageBackbone, stage: int) -> dict:
        """The arguments of the exit after timm stage ``stage`` of a built backbone: its ``arch_args()``."""
        return dict(arch_args=backbone.arch_args(), stage=stage)
