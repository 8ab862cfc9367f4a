"""Any timm CNN as a multi-stage backbone for pretraining, MMDetection and MMSegmentation."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Callable

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mixskd_mm.compat import log_applied
from mixskd_mm.registry import MODELS
from mixskd_mm.weights.files import load_weights_file
from mixskd_mm.weights.record import export_metadata_of
from mixskd_mm.weights.starts import parse_pretrained_cfg, recorded_pretrained_cfg

from ..recompute import CpMode, check_cp_mode, run_checkpointed
from .arguments import timm_args
from .init_schemes import apply_init, check_init
from .stages import checked_indices, create_timm_model, stage_units
from .stems import apply_cifar_stem, remove_stem_act


@MODELS.register_module()
class TimmStageBackbone(BaseModule):
    """A timm CNN cut into stages, returning the feature maps at ``out_indices``.

    The module holds the timm model's own submodules under their own names, so its state-dict keys
    are timm's (``conv1.weight``, ``layer1.0.conv1.weight``, ``stages.0.blocks.0...``) in pretraining,
    in MMDetection and in MMSegmentation alike. Units after the last requested stage (the classifier
    head, ``conv_head``...) are dropped.

    Args:
        model_name: any timm model with ``feature_info`` (ResNet/ResNeXt, RegNet, ConvNeXt,
            EfficientNet, MobileNetV3...).
        out_indices: stages to return, in timm's numbering (the stem is 0 where timm lists it:
            ResNet C2-C5 are ``(1, 2, 3, 4)``; mmdet's ResNet calls them ``(0, 1, 2, 3)``).
        pretrained: ``False``; a local weight file (safetensors or ``.pth``, keys as timm names,
            loaded with a coverage report); a timm model folder, ``'local-dir:PATH'`` or ``'hf-hub:org/name'``
            (:mod:`mixskd_mm.weights.timm_sources`: its ``config.json`` read by timm, its ``model.safetensors`` loaded
            with the same report; the Hub only for ``hf-hub:``); a run directory of ``tools/train.py`` (its
            exported ``backbone.safetensors``); or ``True`` to let timm download its weights. What the source records
            of its inputs (timm's ``pretrained_cfg``: mean, std, input size) is kept in :attr:`pretrained_cfg`.
        frozen_stages: freeze (no grad, eval mode) everything up to and including stage
            ``frozen_stages`` in timm's numbering; -1 freezes nothing. For ResNets 0 is the stem and
            1 is stem + layer1, mmdet's meaning.
        norm_eval: keep every BatchNorm in eval mode during training (mmdet's transfer setting).
        norm_cfg: ``dict(type='BN' | 'SyncBN' | 'FrozenBN', requires_grad=True)``.
        output_stride: 8 or 16 dilates the last stages (DeepLab); ``None`` keeps the model's own.
        cifar_stem: for ResNets, a 3x3 stride-1 stem conv and no max-pool (32x32 inputs).
        stem_act: ``False`` replaces the activation after the stem's BatchNorm (timm ResNet's ``act1``) by
            ``nn.Identity``; with ``cifar_stem`` the stem is then conv3x3 -> BN -> ``layer1``, the released
            CIFAR ResNet's. Models without a ResNet-style ``bn1`` / ``act1`` stem raise ``ValueError``.
        init: weight initialisation (:mod:`~mixskd_mm.models.backbones.init_schemes`): ``'timm'`` (timm's own;
            ResNets: Kaiming-normal fan_out convolutions, last BN of each residual block zeroed), ``'kaiming'``
            (Kaiming-normal fan_out convolutions, norms weight 1 / bias 0, nothing zeroed: the released ImageNet
            ResNet) or ``'torch'`` (PyTorch's default ``reset_parameters()`` of every layer: the released CIFAR
            ResNet). Weights loaded from ``pretrained`` / ``init_cfg`` replace it; ``pretrained=True`` needs
            ``'timm'``.
        with_cp: activation recomputation while training (:mod:`mixskd_mm.models.recompute`): ``True``
            checkpoints every unit (mmdet's ``with_cp``); ``'selective'`` keeps convolution outputs and
            recomputes norms and activations, one region per timm stage (about half the activation
            memory of a ResNet for a few per cent of step time).
        in_chans: input channels.
        init_cfg: mmengine init config; ``dict(type='Pretrained', checkpoint=FILE, prefix=...)`` (``FILE`` may be a
            ``local-dir:`` / ``hf-hub:`` name) is loaded with the same strict coverage check as ``pretrained``.
        **timm_kwargs: passed to ``timm.create_model`` (``drop_path_rate``...).

    Example:
        >>> m = TimmStageBackbone('resnet18', out_indices=(1, 2, 3, 4))
        >>> [o.shape[1] for o in m(torch.zeros(1, 3, 64, 64))] == m.out_channels
        True
    """

    def __init__(self, model_name: str, out_indices: Sequence[int] = (1, 2, 3, 4),
                 pretrained: bool | str | None = False, frozen_stages: int = -1, norm_eval: bool = False,
                 norm_cfg: dict | None = None, output_stride: int | None = None, cifar_stem: bool = False,
                 stem_act: bool = True, init: str = 'timm', with_cp: CpMode = False, in_chans: int = 3,
                 init_cfg: dict | list[dict] | None = None, **timm_kwargs) -> None:
        super().__init__(init_cfg=init_cfg)
        _check_options(output_stride, init, pretrained)
        self.model_name = model_name
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = check_cp_mode(with_cp)
        self.cifar_stem = bool(cifar_stem)
        self.stem_act = bool(stem_act)
        self.init = init
        self.output_stride = output_stride
        self.in_chans = in_chans
        self.norm_cfg = dict(norm_cfg or dict(type='BN'))
        self.timm_kwargs = dict(timm_kwargs)
        #: what the loaded weights were trained on (timm's ``pretrained_cfg`` subset: ``mean`` / ``std`` on the 0-1
        #: scale, ``input_size`` side, ``interpolation``), ``{}`` when none is recorded; ``weights_source`` names them
        self.pretrained_cfg: dict = {}
        self.weights_source: str | None = None
        model, info = self._build_timm_model(pretrained is True)
        if pretrained is True:
            self.pretrained_cfg = parse_pretrained_cfg(getattr(model, 'pretrained_cfg', None))
            self.weights_source = f'timm:{self.model_name}'
        self._cut_into_stages(model, info, out_indices)
        self._apply_norm_cfg(self.norm_cfg)
        self._freeze_stages()
        print_log(f'TimmStageBackbone({model_name}): out_indices={list(self.out_indices)} '
                  f'out_channels={self.out_channels} strides={self.strides}', logger='current')
        log_applied()  # once per process: which fixes to the stack the import applied (mmdet/mmseg's tools too)
        if isinstance(pretrained, str):
            self._load_pretrained_file(pretrained, init_cfg)

    # -- what the backbone is -------------------------------------------------------------------
    def arch_args(self) -> dict:
        """The constructor arguments that build this network afresh: the architecture and its initialisation.

        Weights loading (``pretrained``, ``init_cfg``) and training behaviour (``frozen_stages``, ``norm_eval``,
        ``with_cp``) are left out. ``TimmStageBackbone(**b.arch_args())`` computes the same function as ``b`` once
        it has ``b``'s weights; the replicated exits and :meth:`MixSKD.to_deployable` are built from it.
        """
        return dict(self.timm_kwargs, model_name=self.model_name, out_indices=self.out_indices,
                    output_stride=self.output_stride, cifar_stem=self.cifar_stem, stem_act=self.stem_act,
                    init=self.init, in_chans=self.in_chans, norm_cfg=dict(self.norm_cfg))

    def export_metadata(self) -> dict[str, str]:
        """What an exported weight file records about this backbone: the string metadata of its
        :class:`~mixskd_mm.weights.record.BackboneRecord` (:func:`export_metadata_of` its arguments)."""
        return export_metadata_of(self.arch_args())

    # -- construction steps ---------------------------------------------------------------------
    def _build_timm_model(self, timm_pretrained: bool) -> tuple[nn.Module, Sequence[dict]]:
        """The timm model with the stem and initialisation options applied, and its ``feature_info``."""
        args = timm_args(dict(self.timm_kwargs, in_chans=self.in_chans, output_stride=self.output_stride))
        model = create_timm_model(self.model_name, pretrained=timm_pretrained, **args)
        info = getattr(model, 'feature_info', None)
        if not info or len(info) < 2 or len({f['reduction'] for f in info}) < 2:
            raise ValueError(f'timm model {self.model_name!r} exposes no multi-stage features (feature_info); '
                             f'use a CNN such as resnet50, convnext_tiny or efficientnet_b0')
        if self.cifar_stem:
            apply_cifar_stem(model, self.model_name, self.in_chans)
        if not self.stem_act:
            remove_stem_act(model, self.model_name)
        apply_init(model, self.init)
        return model, info

    def _cut_into_stages(self, model: nn.Module, info: Sequence[dict], out_indices: Sequence[int]) -> None:
        """Record the stages (channels, strides, units) and keep the units up to the last requested stage."""
        self.out_indices = checked_indices(self.model_name, info, out_indices, self.frozen_stages)
        reductions = [f['reduction'] for f in info]
        if self.cifar_stem:
            reductions = [max(1, r // 4) for r in reductions]
        self.stage_modules = [f['module'] for f in info]
        self.stage_channels = [f['num_chs'] for f in info]
        self.stage_strides = reductions
        self.out_channels = [self.stage_channels[i] for i in self.out_indices]
        self.strides = [reductions[i] for i in self.out_indices]
        units = stage_units(model, self.stage_modules)
        missing = [m for m in self.stage_modules if m not in units]
        if missing:
            raise ValueError(f'{self.model_name!r}: stage modules {missing} are not sequential units; '
                             f'this model cannot be split into stages')
        self.stage_unit_index = [units.index(m) for m in self.stage_modules]
        self.units = units[:max(self.stage_unit_index[i] for i in self.out_indices) + 1]
        self._adopt(model, self.units)

    # -- construction helpers -------------------------------------------------------------------
    def _apply_norm_cfg(self, norm_cfg: dict) -> None:
        self._convert_norm(norm_cfg.get('type', 'BN'))
        if not norm_cfg.get('requires_grad', True):
            for m in self.modules():
                if isinstance(m, (_BatchNorm, nn.GroupNorm, nn.LayerNorm)):
                    for p in m.parameters():
                        p.requires_grad_(False)

    def _load_pretrained_file(self, pretrained: str, init_cfg: dict | list[dict] | None) -> None:
        if '://' in pretrained:
            raise ValueError(f'pretrained={pretrained!r} is a URL; TimmStageBackbone loads local files only '
                             f'(or pretrained=True for timm\'s own weights). mmseg configs pass their '
                             f'`model.pretrained` to the backbone: set `model.pretrained=None` there.')
        if init_cfg is not None:
            raise ValueError('give either `pretrained=FILE` or `init_cfg`, not both')
        self.record_loaded(pretrained, load_weights_file(self, pretrained, expected_arch=self.model_name))

    def record_loaded(self, source: str, report: dict) -> None:
        """Remember where the weights came from and what inputs their source records (after a load by any caller)."""
        self.weights_source = source
        self.pretrained_cfg = recorded_pretrained_cfg(report.get('metadata', {}))

    def _adopt(self, model: nn.Module, keep: Sequence[str]) -> None:
        """Register the timm model's children here, dropping units that are not needed."""
        if model._parameters or any(b is not None for b in model._buffers.values()):
            raise ValueError(f'timm model {self.model_name!r} holds parameters outside its stage modules, so it '
                             f'has no multi-stage CNN features; use a CNN such as resnet50 or convnext_tiny')
        keep_set = set(keep)
        for name, child in list(model.named_children()):
            if any(u == name or u.startswith(name + '.') for u in keep_set):
                self.add_module(name, child)
        # drop trailing sub-units of split Sequentials (e.g. EfficientNet blocks after the last stage)
        for unit in stage_units(self, self.stage_modules):
            if unit not in keep_set and '.' in unit:
                parent, _, leaf = unit.rpartition('.')
                del self.get_submodule(parent)._modules[leaf]

    def _convert_norm(self, norm_type: str) -> None:
        if norm_type == 'BN':
            return
        convert: Callable[[nn.Module], nn.Module]
        if norm_type == 'SyncBN':
            from timm.layers import convert_sync_batchnorm
            convert = convert_sync_batchnorm
        elif norm_type == 'FrozenBN':
            from timm.layers import freeze_batch_norm_2d
            convert = freeze_batch_norm_2d
        else:
            raise ValueError(f"norm_cfg type must be 'BN', 'SyncBN' or 'FrozenBN', got {norm_type!r}")
        for name, child in list(self.named_children()):
            self.add_module(name, convert(child))

    def _frozen_units(self) -> list[str]:
        if self.frozen_stages < 0:
            return []
        return self.units[:self.stage_unit_index[self.frozen_stages] + 1]

    def _freeze_stages(self) -> None:
        for name in self._frozen_units():
            unit = self.get_submodule(name)
            unit.eval()
            for p in unit.parameters():
                p.requires_grad_(False)

    # -- nn.Module API --------------------------------------------------------------------------
    def train(self, mode: bool = True) -> TimmStageBackbone:
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self.record_loaded(cfg['checkpoint'], load_weights_file(self, cfg['checkpoint'], prefix=cfg.get('prefix'),
                                                              expected_arch=self.model_name))
            self._is_init = True
            return
        super().init_weights()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.forward_stages(x))

    def forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """Yield the ``out_indices`` feature maps one at a time, as the forward pass reaches each.

        Lets a caller run work on stage k (MixSKD's exit k) before the later stages, so that in the
        backward pass that work's activations are freed before the earlier stages' are needed.
        """
        wanted = {self.stage_unit_index[i] for i in self.out_indices}
        for first, last in self._regions():
            x = self._run_region(self.units[first:last + 1], x)
            if last in wanted:
                yield x

    def _regions(self) -> list[tuple[int, int]]:
        """(first, last) unit indices run as one piece: a timm stage for ``'selective'``, else one unit."""
        if self.with_cp != 'selective':
            return [(i, i) for i in range(len(self.units))]
        ends = sorted({i for i in self.stage_unit_index if i < len(self.units)} | {len(self.units) - 1})
        return [(first, last) for first, last in zip([0] + [e + 1 for e in ends[:-1]], ends)]

    def _run_region(self, names: Sequence[str], x: torch.Tensor) -> torch.Tensor:
        units = [self.get_submodule(n) for n in names]
        if not self.with_cp or not self.training or not torch.is_grad_enabled():
            return _run_units(units, x)
        params = [p for u in units for p in u.parameters()]
        # parameter-free units (an in-place activation, a pool) are cheap and may modify their input;
        # frozen units need no recomputation
        if not params or not (x.requires_grad or any(p.requires_grad for p in params)):
            return _run_units(units, x)
        return run_checkpointed(lambda t: _run_units(units, t), x, self.with_cp)


def _check_options(output_stride: int | None, init: str, pretrained: bool | str | None) -> None:
    if output_stride not in (None, 8, 16, 32):
        raise ValueError(f'output_stride must be 8, 16 or 32, got {output_stride}')
    if check_init(init) != 'timm' and pretrained is True:
        raise ValueError(f"init={init!r} would overwrite timm's pretrained weights (pretrained=True); "
                         f"use init='timm' with them")


def _run_units(units: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for unit in units:
        x = unit(x)
    return x
