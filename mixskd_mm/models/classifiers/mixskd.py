"""MixSKD: self-knowledge distillation from Mixup (Yang et al., ECCV 2022, arXiv 2208.05768)."""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from mmengine.logging import print_log
from torch import nn

from mixskd_mm.registry import MODELS

from ..exits import exit_config
from ..heads import global_pool
from ..recompute import CpMode, check_cp_mode, run_checkpointed
from ._mixing import mixup, sample_pairs
from .image_classifier import ImageClassifier, predictions, scoped


def _pretrained_init(init_cfg: dict | list | None) -> bool:
    cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return any(isinstance(c, dict) and c.get('type') == 'Pretrained' for c in cfgs)


def _halves(tensors: Sequence[torch.Tensor], n: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    first, second = zip(*(t.split(n) for t in tensors))
    return list(first), list(second)


@MODELS.register_module()
class MixSKD(ImageClassifier):
    """A timm CNN trained with MixSKD; at test time only backbone + classifier remain.

    One training step (Yang et al., MixSKD, ECCV 2022, Sec. 3; README 'The method, as implemented'): draw one
    ``lam ~ Beta(alpha, alpha)`` and one permutation ``p``; form ``x~ = lam x + (1 - lam) x[p]``; run backbone and
    exits **once** on ``[x ; x~]`` (2B images, so BatchNorm sees both views together); from the originals' half build
    the interpolations ``F^_k = lam F_k + (1 - lam) F_k[p]`` and ``z^_k`` on logits (gradients flow
    through both members); run the self-teacher on the interpolated and on the Mixup maps (one batched
    call: it has no batch statistics); add the five loss terms, each its own registered module.

    Exits k = 1..K-1 start after the non-final ``out_indices`` of the backbone; exit K is the
    backbone's own final map and classifier. Predictions report the backbone exit as ``backbone``,
    the auxiliary exits as ``exit1``..``exit{K-1}`` and the self-teacher as ``self_teacher``.

    Args:
        backbone: backbone config; its last ``out_indices`` entry is the final stage.
        num_classes: number of classes.
        exit_type: ``'replicate'`` (paper: fresh copies of the later stages) or ``'conv'``
            (cheap depthwise-separable blocks, :class:`ConvExit`), or another registered exit
            (:mod:`mixskd_mm.models.exits`); every exit is built through ``MODELS``.
        alpha: Beta(alpha, alpha) for lam (0.4 CIFAR, 0.2 ImageNet in the released code).
        ce_loss, mix_ce_loss, kd_loss, feat_loss, adv_loss: loss module configs. ``adv_loss``
            gets ``in_channels`` and ``num_exits`` filled in; its ``loss_weight=0`` builds no
            discriminators. ``mix_ce_loss`` with ``loss_weight=0`` mimics the released CIFAR script.
        exit_with_cp: activation recomputation of the auxiliary exits while training
            (:mod:`mixskd_mm.models.recompute`): ``True`` recomputes each exit whole in the backward
            pass, ``'selective'`` keeps its convolution outputs and recomputes norms and activations
            (one region per exit unit). With the backbone's ``with_cp='selective'`` it brings the peak
            memory of a CIFAR ResNet-18 ``replicate`` step from 3.3x to under 2.5x a CE step.
        data_preprocessor: defaults to ``ClsDataPreprocessor``.
        init_cfg: mmengine init config.
        channels_last: ``True``: weights and batches in ``torch.channels_last`` memory format; ``'auto'``: each
            convolution in the format timed faster for its shape (see :class:`ImageClassifier`). The pretraining
            configs set ``True``.
        head: the classifier of the backbone and of every auxiliary exit, as in :class:`ImageClassifier`.
        self_teacher: the self-teacher's config, built through ``MODELS`` with ``in_channels``, ``num_exits`` and
            ``num_classes`` filled in (default ``dict(type='SelfTeacher')``).
        exit_init: how ``replicate`` exits start: ``'copy'``, each a copy of the loaded weights of the backbone units
            it replicates (its own tensors, which then train on their own), or ``'random'``, a fresh initialisation
            by the backbone's ``init`` scheme (the paper, which trains from scratch). ``None`` (default): ``'copy'``
            when the backbone loads weights (``pretrained`` or a ``Pretrained`` ``init_cfg``; copied again once
            ``init_weights`` has loaded them), else ``'random'``. Exits of other types (``conv``), the exit heads,
            the self-teacher, the discriminators and the classifier always start fresh.

    Example:
        >>> m = MixSKD(dict(type='TimmStageBackbone', model_name='test_resnet'), num_classes=10)
        >>> sorted(m.loss(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])))[:3]
        ['loss_adv', 'loss_ce', 'loss_feat']
    """

    def __init__(self, backbone: dict, num_classes: int, exit_type: str = 'replicate', alpha: float = 0.4,
                 ce_loss: dict = dict(type='OriginalCELoss'), mix_ce_loss: dict = dict(type='MixupCELoss'),
                 kd_loss: dict = dict(type='DistributionKDLoss', temperature=3.0),
                 feat_loss: dict = dict(type='FeatureMapL2Loss'), adv_loss: dict = dict(type='AdversarialFeatureLoss'),
                 exit_with_cp: CpMode = False, data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None, channels_last: bool | str = False, head: dict | None = None,
                 self_teacher: dict = dict(type='SelfTeacher'), exit_init: str | None = None) -> None:
        super().__init__(backbone, num_classes, mix=None, alpha=alpha, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg, channels_last=channels_last, head=head)
        stages = self.backbone.out_indices
        if len(stages) < 2:
            raise ValueError(f'MixSKD needs at least two backbone stages in out_indices, got {stages}')
        channels = self.backbone.out_channels[-1]
        self.exit_type = exit_type
        self.exit_with_cp = check_cp_mode(exit_with_cp, 'exit_with_cp')
        self.num_exits = len(stages)
        self.exits = nn.ModuleList(MODELS.build(exit_config(exit_type, self.backbone, s)) for s in stages[:-1])
        self.exit_init = self._exit_init(exit_init)
        self.copy_exits()
        self.exit_heads = nn.ModuleList(MODELS.build(scoped(self.head_cfg, in_channels=channels,
                                                            num_classes=num_classes)) for _ in stages[:-1])
        self.self_teacher = MODELS.build(scoped(self_teacher, in_channels=channels, num_exits=self.num_exits,
                                                num_classes=num_classes))
        self.ce_loss = MODELS.build(scoped(ce_loss))
        self.mix_ce_loss = MODELS.build(scoped(mix_ce_loss))
        self.kd_loss = MODELS.build(scoped(kd_loss))
        self.feat_loss = MODELS.build(scoped(feat_loss))
        self.adv_loss = MODELS.build(scoped(adv_loss, in_channels=channels, num_exits=self.num_exits))
        self.apply_memory_format()

    def _exit_init(self, exit_init: str | None) -> str:
        copyable = all(hasattr(e, 'copy_from') for e in self.exits)
        if exit_init is None:
            loads = self.backbone.weights_source is not None or _pretrained_init(self.backbone.init_cfg)
            return 'copy' if loads and copyable else 'random'
        if exit_init not in ('copy', 'random'):
            raise ValueError(f"exit_init must be 'copy', 'random' or None, got {exit_init!r}")
        if exit_init == 'copy' and not copyable:
            raise ValueError(f"exit_init='copy' needs exits that replicate backbone units (exit_type='replicate'); "
                             f"{self.exit_type!r} exits have no backbone counterpart: use exit_init='random'")
        return exit_init

    def copy_exits(self) -> None:
        """With ``exit_init='copy'``, make every exit a copy of the backbone units it replicates (as they are now)."""
        if self.exit_init == 'copy':
            print_log(f'MixSKD: exit_init=\'copy\': the {len(self.exits)} replicated exits start as copies of the '
                      f'backbone stages they replicate (weights from {self.backbone.weights_source})', logger='current')
            for exit_module in self.exits:
                exit_module.copy_from(self.backbone)  # type: ignore[operator]  # checked by _exit_init

    def init_weights(self) -> None:
        super().init_weights()
        self.copy_exits()  # a Pretrained init_cfg loads the backbone only now

    def exit_features(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """Final feature maps F_1..F_K of all exits (the backbone's last).

        Exit k runs as soon as the backbone reaches stage k, so the backward pass finishes (and frees)
        each exit before it needs the activations of the stages that feed it.
        """
        exits: list[torch.Tensor] = []
        last = None
        for k, feat in enumerate(self.backbone.forward_stages(inputs)):
            if k < len(self.exits):
                exits.append(self._run_exit(self.exits[k], feat))
            last = feat
        assert last is not None  # __init__ checked that out_indices has at least two stages
        return exits + [last]

    def _run_exit(self, exit_module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        mode = self.exit_with_cp if self.training and torch.is_grad_enabled() else False
        if mode == 'selective' and isinstance(exit_module, nn.Sequential):
            for unit in exit_module:
                x = run_checkpointed(unit, x, mode)
            return x
        return run_checkpointed(exit_module, x, mode)

    def exit_logits(self, pooled: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Logits z_1..z_K from pooled features (the backbone's classifier last)."""
        return [head(p) for head, p in zip(self.exit_heads, pooled[:-1])] + [self.head(pooled[-1])]

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        self.tune_memory_formats()
        b = inputs.size(0)
        lam, perm = sample_pairs(b, self.alpha, inputs.device)
        feats = self.exit_features(torch.cat([inputs, mixup(inputs, lam, perm)]))  # the one forward, 2B images
        pooled = [global_pool(f) for f in feats]
        logits = self.exit_logits(pooled)
        f_orig, f_mix = _halves(feats, b)
        p_orig, p_mix = _halves(pooled, b)
        z_orig, z_mix = _halves(logits, b)
        f_hat = [mixup(f, lam, perm) for f in f_orig]
        p_hat = [mixup(p, lam, perm) for p in p_orig]  # == global_pool(f_hat), pooling being linear
        z_hat = [mixup(z, lam, perm) for z in z_orig]
        teacher = self.self_teacher([torch.cat([ph, pm]) for ph, pm in zip(p_hat, p_mix)])
        t_hat, t_mix = teacher.split(b)
        terms = [
            (self.ce_loss, self.ce_loss(z_orig, targets)),
            (self.mix_ce_loss, self.mix_ce_loss(z_mix, [t_hat, t_mix], targets, targets[perm], lam)),
            (self.kd_loss, self.kd_loss(z_hat, z_mix, t_hat, t_mix)),
            (self.feat_loss, self.feat_loss(f_hat, f_mix)),
            (self.adv_loss, self.adv_loss(p_hat, p_mix)),
        ]
        losses = {module.loss_name: value for module, value in terms}
        losses['mix_lam'] = lam.detach()
        return losses

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> list[dict]:
        pooled = [global_pool(f) for f in self.exit_features(inputs)]
        logits = self.exit_logits(pooled)
        scores = {f'exit{k + 1}': z for k, z in enumerate(logits[:-1])}
        scores['backbone'] = logits[-1]
        scores['self_teacher'] = self.self_teacher(pooled)
        return predictions(scores, targets)

    def to_deployable(self) -> ImageClassifier:
        """The backbone and its classifier as a plain :class:`ImageClassifier`, no MixSKD parts left.

        The backbone is rebuilt from its ``arch_args()`` (the same network, nothing frozen, no recomputation) and
        given this model's weights.
        """
        cfg = dict(self.backbone.arch_args(), type='mixskd_mm.TimmStageBackbone')
        model = ImageClassifier(cfg, self.num_classes, data_preprocessor=copy.deepcopy(self.data_preprocessor),
                                head=self.head_cfg)
        model.backbone.load_state_dict(self.backbone.state_dict())
        model.head.load_state_dict(self.head.state_dict())
        return model.train(self.training)
