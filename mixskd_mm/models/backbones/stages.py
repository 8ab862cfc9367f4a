"""A timm model's stages: building it with clear errors, its sequential units, and checked stage indices."""
from __future__ import annotations

import difflib
from collections.abc import Sequence

import timm
from torch import nn


def create_timm_model(model_name: str, **kwargs) -> nn.Module:
    """``timm.create_model`` with a clear error for an unknown name or an unsupported option."""
    if model_name not in timm.list_models():
        close = difflib.get_close_matches(model_name, timm.list_models(), n=5, cutoff=0.6)
        raise ValueError(f'unknown timm model {model_name!r}. Close names: {close or "none"}; '
                         f'list them with `timm.list_models("*{model_name.split("_")[0]}*")`.')
    try:
        return timm.create_model(model_name, **kwargs)
    except TypeError as err:
        raise ValueError(f'timm model {model_name!r} does not accept these options {sorted(kwargs)}: {err}. '
                         f'(`output_stride` needs a model family that supports dilation, e.g. ResNet, '
                         f'ConvNeXt, EfficientNet, RegNet.)') from None


def stage_units(model: nn.Module, feature_modules: Sequence[str]) -> list[str]:
    """The model's top-level computation units in forward order, as dotted module names.

    A top-level ``nn.Sequential`` is split into its children when a feature module lies inside it
    (``stages.0`` in ConvNeXt, ``blocks.0`` in EfficientNet), recursively; otherwise it stays whole
    (``layer1`` in ResNet). Running the units one after another is the model's feature forward, the
    same sequential contract timm's own ``features_only`` wrappers rely on.
    """
    def walk(parent: nn.Module, prefix: str) -> list[str]:
        names = []
        for name, child in parent.named_children():
            full = prefix + name
            inside = [f for f in feature_modules if f.startswith(full + '.')]
            if inside and isinstance(child, nn.Sequential):
                names += walk(child, full + '.')
            elif inside:
                raise ValueError(f'feature module {inside[0]!r} lies inside {type(child).__name__} {full!r}, '
                                 f'which is not sequential; this model cannot be split into stages')
            else:
                names.append(full)
        return names
    return walk(model, '')


def checked_indices(model_name: str, info: Sequence[dict], out_indices: Sequence[int],
                     frozen_stages: int) -> tuple[int, ...]:
    """``out_indices`` as a tuple of ints, after checking it and ``frozen_stages`` against the model's stages."""
    out_indices = tuple(int(i) for i in out_indices)
    n = len(info)
    ordered = list(out_indices) == sorted(set(out_indices))
    if not out_indices or not ordered or any(i < 0 or i >= n for i in out_indices):
        raise ValueError(f'out_indices {out_indices} out of range for {model_name!r}: it has {n} stages, '
                         f'indices 0..{n - 1} (timm numbering, channels {[f["num_chs"] for f in info]}), '
                         f'given in increasing order')
    if not -1 <= frozen_stages < n:
        raise ValueError(f'frozen_stages must be in -1..{n - 1} for {model_name!r}, got {frozen_stages}')
    return out_indices
