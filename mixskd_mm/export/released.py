"""The authors' released MixSKD checkpoints -> our exported-backbone file (timm key names, safetensors).

The MixSKD paper (C. Yang et al., "MixSKD: Self-Knowledge Distillation from Mixup for Image Recognition",
ECCV 2022) was released with the Self-KD-Lib code base, whose training scripts save torch pickles of
``{'net': state_dict, 'acc': float, 'epoch': int, 'optimizer': SGD state}`` (README: 'The authors' released
checkpoints').
``net`` is the whole training network:

- ``backbone.*``: the ResNet, with torchvision's names (``conv1``, ``bn1``, ``layer1``..``layer4``, ``fc``), which
  are timm's too, so a backbone key maps to our key by dropping ``backbone.``;
- ``auxiliary_classifier.*``: the exits (copies of the later stages and their classifiers), dropped;
- ``final_aux_classifier.*``: the self-teacher (1x1 conv + classifier), dropped.

A ``net`` saved from the ``nn.DataParallel`` wrapper itself has a ``module.`` before every key; it is stripped.

Two released models are known: the CIFAR ResNet-18 (3x3 stride-1 stem conv, **no activation after the stem's BN**,
no max-pool) and the ImageNet ResNet-50 (torchvision's). The CIFAR file is written with ``cifar_stem`` true and
``stem_act`` false in its metadata, so it loads only into ``TimmStageBackbone('resnet18', cifar_stem=True,
stem_act=False)``: the backbone that computes the released function.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from mixskd_mm.models.backbones import TimmStageBackbone
from mixskd_mm.weights.record import BackboneRecord
from mixskd_mm.weights.released_files import (  # noqa: F401  (the converter's names: LAYOUT, NET_PARTS re-exported)
    LAYOUT,
    NET_PARTS,
    ReleasedCheckpointError,
    load_released,
    released_net,
)

from .backbone_file import save_backbone

#: the released backbone's classifier, kept only on request
CLASSIFIER_KEYS = ('fc.weight', 'fc.bias')


@dataclass(frozen=True)
class ReleasedArch:
    """One released MixSKD model and the ``TimmStageBackbone`` options that compute its backbone.

    Attributes:
        name: the ``--arch`` value.
        released_name: the model's name in the released code.
        model_name: the timm model.
        cifar_stem: 3x3 stride-1 stem conv, no max-pool.
        stem_act: the activation after the stem's BN.
        stem_kernel: the stem conv's kernel size, which tells the two apart.
    """

    name: str
    released_name: str
    model_name: str
    cifar_stem: bool
    stem_act: bool
    stem_kernel: int

    @property
    def backbone_options(self) -> dict[str, Any]:
        """The ``TimmStageBackbone`` keyword arguments of this backbone."""
        return dict(model_name=self.model_name, out_indices=(1, 2, 3, 4), cifar_stem=self.cifar_stem,
                    stem_act=self.stem_act)

    def describe(self) -> str:
        """One line naming the model and its backbone."""
        opts = ', '.join(f'{k}={v!r}' for k, v in self.backbone_options.items() if k != 'out_indices')
        return f'{self.name} ({self.released_name}; TimmStageBackbone({opts}))'


ARCHS: dict[str, ReleasedArch] = {a.name: a for a in (
    ReleasedArch('cifar-resnet18', 'MixSKD_CIFAR_ResNet18', 'resnet18', cifar_stem=True, stem_act=False,
                 stem_kernel=3),
    ReleasedArch('imagenet-resnet50', 'MixSKD_ImageNet_ResNet50', 'resnet50', cifar_stem=False, stem_act=True,
                 stem_kernel=7),
)}


@dataclass
class Conversion:
    """What :func:`convert_released` wrote.

    Attributes:
        out: the written file.
        arch: the released model.
        tensors: how many tensors the file holds.
        dropped: tensor counts of the parts left out: ``the exits``, ``the self-teacher``, ``the classifier``.
        metadata: the file's metadata.
    """

    out: str
    arch: ReleasedArch
    tensors: int
    dropped: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


def _target_backbone(arch: ReleasedArch) -> TimmStageBackbone:
    """The ``TimmStageBackbone`` the converted file is meant for (its keys and shapes are the target)."""
    return TimmStageBackbone(**arch.backbone_options)


def _pick_arch(backbone: Mapping[str, torch.Tensor], arch: str, source: str) -> ReleasedArch:
    """The released model named by ``arch``, or for ``'auto'`` the one whose stem conv the file has."""
    if arch != 'auto':
        if arch not in ARCHS:
            raise ReleasedCheckpointError(f'unknown --arch {arch!r}; choose one of {sorted(ARCHS)} or auto')
        return ARCHS[arch]
    stem = backbone.get('conv1.weight')
    shape = tuple(stem.shape) if stem is not None else None
    for candidate in ARCHS.values():
        if shape is not None and len(shape) == 4 and shape[-2:] == (candidate.stem_kernel,) * 2:
            return candidate
    raise ReleasedCheckpointError(
        f'{source}: the backbone\'s stem conv backbone.conv1.weight has shape {shape}, which is neither released '
        f'model\'s (3x3: {ARCHS["cifar-resnet18"].describe()}; 7x7: {ARCHS["imagenet-resnet50"].describe()})')


def layout_problems(backbone: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                    classifier_in: int) -> list[str]:
    """How the released backbone tensors differ from the target's keys and shapes (empty when they fit).

    Args:
        backbone: the released ``backbone.*`` tensors, prefix stripped.
        target: the target backbone's state dict.
        classifier_in: the in-features the released ``fc`` must have (the last stage's channels).
    """
    problems = []
    missing = [k for k in target if k not in backbone]
    extra = [k for k in backbone if k not in target and k not in CLASSIFIER_KEYS]
    shapes = [f'{k}: file {tuple(backbone[k].shape)} vs {tuple(v.shape)}' for k, v in target.items()
              if k in backbone and backbone[k].shape != v.shape]
    if missing:
        problems.append(f'{len(missing)} backbone tensors missing, e.g. {missing[:4]}')
    if extra:
        problems.append(f'{len(extra)} unexpected backbone tensors, e.g. {extra[:4]}')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatches, e.g. {shapes[:3]}')
    weight, bias = (backbone.get(k) for k in CLASSIFIER_KEYS)
    if (weight is None) != (bias is None):
        problems.append('the classifier has only one of fc.weight / fc.bias')
    elif weight is not None and bias is not None and (weight.dim() != 2 or weight.shape[1] != classifier_in
                                                      or tuple(bias.shape) != (weight.shape[0],)):
        problems.append(f'the classifier fc.weight {tuple(weight.shape)} / fc.bias {tuple(bias.shape)} does not '
                        f'take {classifier_in} features')
    return problems


def _number(value: object) -> object | None:
    """``value`` as a plain number (a 0-d tensor's item), or ``None``."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def source_line(path: str, ckpt: Mapping, arch: ReleasedArch) -> str:
    """The ``source`` metadata: the released file, its model, and the epoch / accuracy it recorded."""
    epoch, acc = _number(ckpt.get('epoch')), _number(ckpt.get('acc'))
    parts = [f'epoch {epoch}' if epoch is not None else 'epoch unknown',
             f'acc {acc:g}' if acc is not None else 'acc unknown']
    return f'{os.path.basename(path)} (Self-KD-Lib {arch.released_name}, {", ".join(parts)})'


def convert_released(src: str, out: str, arch: str = 'auto', keep_classifier: bool = False) -> Conversion:
    """Convert a released MixSKD checkpoint to our exported-backbone file.

    Args:
        src: the released checkpoint.
        out: the ``.safetensors`` (or ``.pth``) file to write.
        arch: ``'cifar-resnet18'``, ``'imagenet-resnet50'`` or ``'auto'`` (told apart by the stem conv).
        keep_classifier: keep the backbone's ``fc`` classifier (``fc.weight``, ``fc.bias``).

    Returns:
        What was written.

    Raises:
        ReleasedCheckpointError: the file is not such a checkpoint, or not of ``arch``; nothing is written.
    """
    if not out.endswith(('.safetensors', '.pth', '.pt')):
        raise ReleasedCheckpointError(f'the output must end in .safetensors (recommended) or .pth, got {out!r}')
    if os.path.isdir(out):
        raise ReleasedCheckpointError(f'the output {out!r} is a folder; expected a file name ending in .safetensors '
                                      f'(recommended) or .pth')
    ckpt = load_released(src)
    name = os.path.basename(src)
    net = released_net(ckpt, name)
    backbone = {k[len('backbone.'):]: v for k, v in net.items() if k.startswith('backbone.')}
    model = _pick_arch(backbone, arch, name)
    target = _target_backbone(model)
    problems = layout_problems(backbone, target.state_dict(), target.stage_channels[-1])
    if problems:
        raise ReleasedCheckpointError(
            f'{name}: the backbone is not the released {model.describe()}: {"; ".join(problems)}. This converter '
            f'reads {" and ".join(a.describe() for a in ARCHS.values())}.')
    has_fc = all(k in backbone for k in CLASSIFIER_KEYS)
    if keep_classifier and not has_fc:
        raise ReleasedCheckpointError(f'{name}: --keep-classifier, but the backbone has no fc.weight / fc.bias')
    keep = list(target.state_dict()) + (list(CLASSIFIER_KEYS) if keep_classifier else [])
    tensors = {k: backbone[k] for k in keep}
    # model_name, out_indices, cifar_stem, and stem_act when false (the stem variant), as our export writes them
    metadata = BackboneRecord.from_args(model.backbone_options).to_metadata()
    metadata['source'] = source_line(src, ckpt, model)
    if keep_classifier:
        metadata['num_classes'] = str(backbone['fc.weight'].shape[0])
    save_backbone(tensors, out, metadata)
    dropped = {what: sum(k.startswith(part) for k in net) for part, what in NET_PARTS.items() if part != 'backbone.'}
    dropped['the classifier'] = 0 if keep_classifier or not has_fc else len(CLASSIFIER_KEYS)
    return Conversion(out=out, arch=model, tensors=len(tensors), dropped=dropped, metadata=metadata)


def summary(conv: Conversion) -> str:
    """The converter's report: what was written, what was dropped, and how to build the matching backbone."""
    dropped = ', '.join(f'{part} ({n} tensors)' for part, n in conv.dropped.items() if n) or 'nothing'
    opts = ', '.join(f'{k}={v!r}' for k, v in conv.arch.backbone_options.items() if k != 'out_indices')
    what = 'backbone + classifier' if 'num_classes' in conv.metadata else 'backbone'
    return (f'converted {conv.tensors} tensors ({what}) of {conv.arch.released_name} ({conv.arch.name}) to '
            f'{conv.out}; left out {dropped}\n'
            f'load it with TimmStageBackbone({opts}, pretrained={conv.out!r})')

