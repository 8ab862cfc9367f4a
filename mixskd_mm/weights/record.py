"""What a backbone file records about its network: :class:`BackboneRecord`, the one description, read and written here.

An exported backbone file (``tools/export_backbone.py``, ``ExportBackboneHook``, the released-checkpoint converter)
carries, in its string metadata (safetensors metadata, a ``.pth``'s ``meta``, a timm folder's ``config.json``
``mixskd_mm`` section), what ``TimmStageBackbone`` needs to compute the function its tensors were trained for:
``model_name``, ``out_indices``, the stem variant ``cifar_stem`` always, and ``stem_act``, ``output_stride``,
``in_chans`` when they differ from their defaults. An absent option means its default to every reader.

Everything that writes such metadata (the backbone's ``export_metadata()``, the export from a checkpoint's config)
and everything that reads it (the load check of :mod:`.files`, ``local-dir:`` / ``hf-hub:`` folders in
:mod:`.timm_sources`, the transfer leaves of :mod:`mixskd_mm.compare.transfer`) goes through this class. It imports
nothing of the package, so every layer can use it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the stages a backbone returns when its arguments do not say
DEFAULT_OUT_INDICES = (1, 2, 3, 4)
#: the options recorded only when they differ from these defaults (``model_name``, ``out_indices`` and the stem
#: variant ``cifar_stem`` always), in the order they are written
EXPORTED_OPTIONS = dict(stem_act=True, output_stride=None, in_chans=3)
#: options that change the function a file's tensors compute while every tensor (``stem_act``) or all but the stem
#: conv (``cifar_stem``) keeps its shape; option -> its default
STEM_OPTIONS = {'cifar_stem': False, 'stem_act': True}


@dataclass(frozen=True)
class BackboneRecord:
    """What a backbone file records: the ``TimmStageBackbone`` arguments that make its tensors compute their function.

    Attributes:
        model_name: the timm model.
        out_indices: the stages the backbone returned, in timm's numbering; ``None`` when a file does not record them.
        cifar_stem: the 3x3 stride-1 stem without max-pool.
        stem_act: the activation after the stem's BatchNorm (``False``: the released MixSKD CIFAR stem).
        output_stride: 8 or 16 for a dilated backbone; ``None``: the model's own.
        in_chans: input channels.
        unreadable: recorded options whose values could not be read (not JSON of the right type); they keep their
            defaults here, and a check of them (:func:`mixskd_mm.weights.files.check_stem_options`) skips them.

    Example:
        >>> r = BackboneRecord.from_args(dict(model_name='resnet18', cifar_stem=True, stem_act=False))
        >>> r.to_metadata()
        {'model_name': 'resnet18', 'out_indices': '[1, 2, 3, 4]', 'cifar_stem': 'true', 'stem_act': 'false'}
        >>> BackboneRecord.from_metadata(r.to_metadata()) == r
        True
    """

    model_name: str
    out_indices: tuple[int, ...] | None = DEFAULT_OUT_INDICES
    cifar_stem: bool = False
    stem_act: bool = True
    output_stride: int | None = None
    in_chans: int = 3
    unreadable: tuple[str, ...] = ()

    # -- from a network's arguments ---------------------------------------------------------------------------------
    @classmethod
    def from_args(cls, args: Mapping) -> BackboneRecord:
        """The record of a backbone built from ``args``: its constructor arguments, its ``arch_args()`` or a config's
        ``model.backbone`` alike, so a file exported from a live run and one exported from its checkpoint agree."""
        return cls(model_name=args['model_name'], out_indices=tuple(args.get('out_indices', DEFAULT_OUT_INDICES)),
                   cifar_stem=bool(args.get('cifar_stem', False)),
                   **{k: args.get(k, default) for k, default in EXPORTED_OPTIONS.items()})

    # -- to and from string metadata --------------------------------------------------------------------------------
    def to_metadata(self) -> dict[str, str]:
        """The string metadata a file records: ``model_name``, ``out_indices``, ``cifar_stem`` and every
        :data:`EXPORTED_OPTIONS` entry that differs from its default, in that order; JSON for non-strings."""
        values: dict[str, Any] = dict(model_name=self.model_name)
        if self.out_indices is not None:
            values['out_indices'] = list(self.out_indices)
        values['cifar_stem'] = self.cifar_stem
        values.update({k: getattr(self, k) for k, default in EXPORTED_OPTIONS.items() if getattr(self, k) != default})
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str]) -> BackboneRecord | None:
        """The record a file's string metadata holds, or ``None`` when it records no ``model_name`` (a file not
        written by our export or converter records no options either).

        An absent option takes its default (``out_indices``: ``None``, not recorded); one whose value is not JSON of
        its type (``''`` included) is listed in ``unreadable`` and keeps its default.
        """
        if not meta.get('model_name'):
            return None
        values: dict[str, Any] = dict(out_indices=None)
        unreadable = []
        for name in ('out_indices', 'cifar_stem', *EXPORTED_OPTIONS):
            if meta.get(name) is None:
                continue
            try:
                values[name] = _parse(name, json.loads(meta[name]))
            except ValueError:
                unreadable.append(name)
        return cls(model_name=meta['model_name'], unreadable=tuple(unreadable), **values)

    # -- what the record asks of a backbone -------------------------------------------------------------------------
    def stem_options(self) -> dict[str, bool]:
        """The :data:`STEM_OPTIONS` this record sets to other than their default (what plain timm cannot build)."""
        return {k: getattr(self, k) for k, default in STEM_OPTIONS.items() if getattr(self, k) != default}

    def weight_options(self) -> dict[str, Any]:
        """The ``TimmStageBackbone`` options the weights themselves need, where not at their default: ``cifar_stem``,
        ``stem_act`` and ``in_chans`` (``out_indices`` and ``output_stride`` are the user's choice downstream)."""
        extras: dict[str, Any] = dict(self.stem_options())
        if self.in_chans != EXPORTED_OPTIONS['in_chans']:
            extras['in_chans'] = self.in_chans
        return extras


def export_metadata_of(args: Mapping) -> dict[str, str]:
    """The metadata a file exported from a backbone built from ``args`` records (:meth:`BackboneRecord.from_args`,
    :meth:`BackboneRecord.to_metadata`): a built backbone's ``export_metadata()`` and a checkpoint's export alike."""
    return BackboneRecord.from_args(args).to_metadata()


def timm_config_metadata(architecture: str, model_args: Mapping | None) -> dict[str, str]:
    """What a timm model folder's ``config.json`` records, in the string form of our files' metadata: ``model_name``
    (its ``architecture``) and the :data:`STEM_OPTIONS` its ``model_args`` set (our export writes them there)."""
    meta = {'model_name': architecture}
    meta.update({k: json.dumps(v) for k, v in (model_args or {}).items() if k in STEM_OPTIONS})
    return meta


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse(name: str, value: Any) -> Any:
    """A recorded option's JSON value as its field's type; ``ValueError`` when it is not one."""
    if name == 'out_indices' and isinstance(value, list) and all(_is_int(i) for i in value):
        return tuple(value)
    if name in STEM_OPTIONS and isinstance(value, bool):
        return value
    if name in ('in_chans', 'output_stride') and _is_int(value) or (name == 'output_stride' and value is None):
        return value
    raise ValueError(f'{name}: {value!r}')
