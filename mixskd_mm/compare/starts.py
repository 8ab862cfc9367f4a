"""The starts of a comparison (``--init``): resolved once before any run, checked against the model, recorded.

Every start is resolved by :func:`mixskd_mm.weights.starts.resolve_start` (the only step that may use the network),
then loaded once into the comparison's backbone here, so that a source of another architecture, or one that does not
cover the backbone, is refused before any run. ``OUT/starts.json`` records each start's file hash: a rerun whose
source changed is refused like any changed setting.

Each start has its own schedule defaults (:func:`schedule_defaults`): fine-tuning pretrained weights takes fewer
epochs at a lower learning rate than training from random weights.
"""
from __future__ import annotations

import json
import os.path as osp
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mixskd_mm.utils.atomic_io import atomic_write_bytes
from mixskd_mm.weights.starts import SCRATCH, TIMM, Start, resolve_start

from .study import SettingsChanged

#: ``(epochs, learning rate per 64 images)`` when ``--epochs`` / ``--lr`` are not given: from random weights, the
#: CPU recipes' 30 epochs at 0.05; from pretrained weights, half the epochs at a fifth of the rate, common
#: fine-tuning practice (README, Pretrained starts; not measured with ImageNet weights here)
SCHEDULES = {SCRATCH: (30, 0.05), 'pretrained': (15, 0.01)}


def schedule_defaults(spec: str, batch: int, epochs: int | None, lr: float | None) -> tuple[int, float]:
    """``(epochs, lr)`` of a start: the given values, or the start's defaults (:data:`SCHEDULES`)."""
    default_epochs, rate = SCHEDULES[SCRATCH if spec == SCRATCH else 'pretrained']
    return epochs or default_epochs, lr if lr is not None else round(rate * batch / 64, 6)


def parse_init(text: str) -> list[str]:
    """``'scratch,timm'`` -> ``['scratch', 'timm']``.

    Raises:
        SystemExit: an empty list or a repeated start.
    """
    specs = [s.strip() for s in text.split(',') if s.strip()]
    if not specs:
        raise SystemExit(f"--init {text!r}: name at least one start ({SCRATCH}, {TIMM}, hf-hub:..., local-dir:..., a "
                         f'file or a run directory)')
    if len(set(specs)) != len(specs):
        raise SystemExit(f'--init repeats a start: {specs}')
    return specs


@dataclass(frozen=True)
class PlannedStart:
    """A start resolved and checked for a comparison.

    Attributes:
        start: The resolved start (weights file, hash, ``pretrained_cfg``).
        label: Its short name in folder names and tables (``scratch``, ``timm``, ``local-dir-NAME``...).
        matched: Backbone tensors the weights covered when loaded here (``None`` for scratch).
        total: Backbone tensors (``None`` for scratch).
    """

    start: Start
    label: str
    matched: int | None = None
    total: int | None = None

    @classmethod
    def scratch(cls) -> PlannedStart:
        return cls(Start(SCRATCH), SCRATCH)

    @property
    def normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """The runs' ``(mean, std)`` on the 0-255 scale: the source's, or ``None`` (the data's own)."""
        norm = self.start.normalisation() if self.start.pretrained else None
        return (tuple(norm[0]), tuple(norm[1])) if norm else None

    def as_json(self) -> dict[str, Any]:
        return dict(self.start.to_json(), label=self.label, tensors_matched=self.matched, tensors_total=self.total,
                    description=self.describe())

    def describe(self) -> str:
        """One line for the report: the source, its file and hash, the coverage and the normalisation."""
        s = self.start
        if not s.pretrained:
            return (f"`{SCRATCH}`: random weights (timm's initialisation); normalised with the training images' "
                    'statistics')
        norm = "the source's mean and std" if self.normalisation else \
            "the training images' mean and std (the source records none)"
        return (f'`{s.spec}`: `{s.weights}` (sha256 `{(s.sha256 or "")[:16]}`), {self.matched}/{self.total} backbone '
                f'tensors matched; normalised with {norm}')


def label_of(spec: str, taken: Sequence[str]) -> str:
    """A short, unique, file-name-safe name for a start."""
    if spec in (SCRATCH, TIMM):
        base = spec
    elif spec.startswith('hf-hub:'):
        base = 'hf-hub-' + spec.split(':', 1)[1].split('/')[-1]
    elif spec.startswith('local-dir:'):
        base = 'local-dir-' + osp.basename(osp.normpath(spec.split(':', 1)[1]))
    else:
        base = ('run-' if osp.isdir(spec) else 'file-') + osp.splitext(osp.basename(osp.normpath(spec)))[0]
    base = re.sub(r'[^A-Za-z0-9._-]+', '-', base).strip('-') or 'start'
    label, n = base, 2
    while label in taken:
        label, n = f'{base}-{n}', n + 1
    return label


def check_fits(start: Start, model_name: str) -> tuple[int, int]:
    """Load the start's weights into the comparison's backbone once, here: ``(matched, total)`` tensors.

    Raises:
        RuntimeError: the weights do not cover the backbone or record other stem options, with the fix.
    """
    from mixskd_mm.models.backbones import TimmStageBackbone
    from mixskd_mm.weights.files import load_weights_file
    assert start.weights is not None
    report = load_weights_file(TimmStageBackbone(model_name), start.weights, expected_arch=model_name)
    return len(report['matched']), len(report['matched']) + len(report['missing']) + len(report['mismatched'])


def plan_starts(specs: Sequence[str], model_name: str, out: str) -> list[PlannedStart]:
    """Resolve, check and record every start, before any run.

    Raises:
        StartError / RuntimeError / FileNotFoundError: a start that cannot be used, named, with the fix.
        SettingsChanged: a start whose weights changed since ``out`` was started.
    """
    planned: list[PlannedStart] = []
    for spec in specs:
        start = resolve_start(spec, model_name)
        counts = check_fits(start, model_name) if start.pretrained else (None, None)
        planned.append(PlannedStart(start, label_of(spec, [p.label for p in planned]), *counts))
    path = osp.join(out, 'starts.json')
    if osp.isfile(path):
        with open(path) as f:
            old = json.load(f)
        changed = [f'  {spec}: sha256 {old.get(spec)} in {out}, now {sha}' for spec, sha in _hashes(planned).items()
                   if old.get(spec) != sha]
        if changed:
            raise SettingsChanged(f'the weights of a start changed since {out} was started; its finished runs would '
                                  f'not be comparable with new ones:\n' + '\n'.join(changed)
                                  + '\nUse a new --out, or restore the weights the comparison started from.')
    return planned


def _hashes(planned: Sequence[PlannedStart]) -> dict[str, str | None]:
    return {p.start.spec: p.start.sha256 for p in planned}


def record_starts(out: str, planned: Sequence[PlannedStart]) -> None:
    """Write ``out/starts.json`` (each start's weights hash) once, beside ``settings.json``."""
    path = osp.join(out, 'starts.json')
    if not osp.isfile(path):
        atomic_write_bytes(json.dumps(_hashes(planned), indent=1).encode(), path)


def start_folder(out: str, start: PlannedStart, several: bool) -> str:
    """Where a start's runs, fine-tunes and report live: ``out`` itself for a single start, else
    ``out/starts/LABEL``."""
    return osp.join(out, 'starts', start.label) if several else out
