"""The description of a comparison: what decides its numbers, as given, and what follows from it on the data.

Two frozen records, built once by :func:`~mixskd_mm.compare.cli.main`:

- :class:`Settings`: what the command line decides (``OUT/settings.json`` records it, :meth:`Settings.recorded`; a
  rerun with other settings is refused before any data is read);
- :class:`Comparison`: the settings on the data, with what they come to computed once (the crop size, the split
  the numbers are measured on, the pretraining schedule with its top-k and iterations per epoch, the sweep's
  variants), and the running options the report mentions.
"""
from __future__ import annotations

import argparse
import os.path as osp
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .configs import Pretraining
from .data import EMBEDDED
from .starts import SCRATCH, PlannedStart, schedule_defaults
from .study import Variant, parse_sweep
from .transfer.common import TASKS, Task

#: ``--robustness-images``' default: the images of the split corrupted (a seeded subset; 15 corrupted copies of each)
DEFAULT_ROBUSTNESS_IMAGES = 1000


def _path(path: str | None) -> str | None:
    return osp.abspath(path) if path else None


@dataclass(frozen=True)
class TransferSource:
    """What one transfer task fine-tunes: the user's config, or a data folder with our recipe, and its options.

    Attributes:
        task: The task (:data:`~mixskd_mm.compare.transfer.common.TASKS`).
        config: ``--det-config`` / ``--seg-config`` as given (or ``None``).
        folder: ``--det-data`` / ``--seg-data`` as given (or ``None``).
        iters: ``--det-iters`` / ``--seg-iters``: iterations of our recipe on ``folder``.
        options: ``--det-options`` / ``--seg-options``: ``--cfg-options`` of every fine-tune.
    """

    task: Task
    config: str | None
    folder: str | None
    iters: int
    options: tuple[str, ...]

    @property
    def given(self) -> bool:
        """Whether the task is fine-tuned at all."""
        return bool(self.config or self.folder)


@dataclass(frozen=True)
class Settings:
    """What decides the numbers of a comparison, as the command line gave it (jobs, GPUs and layouts do not count).

    Paths are kept as given (the data is read and the leaves are written from them); :meth:`recorded` makes them
    absolute.
    """

    data: str
    model: str
    img_size: int | None
    epochs: int | None
    batch: int
    lr: float | None
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    sweep: tuple[str, ...]
    val_fraction: float
    max_per_class: int | None
    per_class: int
    val_per_class: int
    data_root: str | None
    workers: int
    transfers: tuple[TransferSource, ...]
    transfer_seeds: int | None
    amp: bool
    drop_duplicates: bool
    init: tuple[str, ...] = (SCRATCH,)
    tune: int | None = None
    robustness_images: int = DEFAULT_ROBUSTNESS_IMAGES

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        """The settings of :func:`~mixskd_mm.compare.cli.parse_args`'s namespace. ``epochs`` and ``lr`` stay ``None``
        where not given: each start has its own defaults (:func:`~mixskd_mm.compare.starts.schedule_defaults`)."""
        transfers = (
            TransferSource(TASKS['det'], args.det_config, args.det_data, args.det_iters, tuple(args.det_options)),
            TransferSource(TASKS['seg'], args.seg_config, args.seg_data, args.seg_iters, tuple(args.seg_options)))
        return cls(data=args.data, model=args.model, img_size=args.img_size, epochs=args.epochs, batch=args.batch,
                   lr=args.lr, methods=tuple(args.methods), seeds=tuple(args.seeds), sweep=tuple(args.sweep),
                   val_fraction=args.val_fraction, max_per_class=args.max_per_class, per_class=args.per_class,
                   val_per_class=args.val_per_class, data_root=args.data_root, workers=args.workers,
                   transfers=transfers, transfer_seeds=args.transfer_seeds, amp=args.amp,
                   drop_duplicates=args.drop_duplicates, init=tuple(args.init), tune=args.tune,
                   robustness_images=args.robustness_images)

    @property
    def embedded(self) -> bool:
        return self.data == EMBEDDED

    @property
    def scratch_only(self) -> bool:
        """Whether every run starts from random weights (``--init scratch``), as every comparison did before starts."""
        return self.init == (SCRATCH,)

    def recorded(self) -> dict[str, Any]:
        """What ``settings.json`` holds (and ``results.json``'s ``settings`` starts with): JSON values, absolute
        paths; ``amp``, ``drop_duplicates`` and ``tune`` only when set, ``init`` only when it is not ``scratch``
        alone (then with the from-scratch ``epochs`` and ``lr`` filled in), and ``robustness_images`` only when it is
        not the default, so folders started before they existed still match."""
        epochs, lr = self.epochs, self.lr
        if self.scratch_only:
            epochs, lr = schedule_defaults(SCRATCH, self.batch, epochs, lr)
        out: dict[str, Any] = dict(
            data=self.data if self.embedded else _path(self.data), model=self.model, img_size=self.img_size,
            epochs=epochs, batch=self.batch, lr=lr, methods=list(self.methods), seeds=list(self.seeds),
            sweep=list(self.sweep), val_fraction=self.val_fraction, max_per_class=self.max_per_class,
            embedded=dict(per_class=self.per_class, val_per_class=self.val_per_class,
                          data_root=_path(self.data_root)) if self.embedded else None,
            workers=self.workers)
        keyed = {t.task.key: t for t in self.transfers}
        out.update({f'{key}_config': _path(t.config) for key, t in keyed.items()})
        out.update({f'{key}_data': _path(t.folder) for key, t in keyed.items()})
        out.update({f'{key}_iters': t.iters if t.folder else None for key, t in keyed.items()})
        out['transfer_seeds'] = self.transfer_seeds
        out.update({f'{key}_options': list(t.options) for key, t in keyed.items()})
        return dict(out, **({'amp': True} if self.amp else {}),
                    **({'drop_duplicates': True} if self.drop_duplicates else {}),
                    **({} if self.scratch_only else {'init': list(self.init)}),
                    **({'tune': self.tune} if self.tune else {}),
                    **({} if self.robustness_images == DEFAULT_ROBUSTNESS_IMAGES
                       else {'robustness_images': self.robustness_images}))


@dataclass(frozen=True)
class Comparison:
    """A comparison on its data: the settings, and what they come to, computed once (:meth:`build`).

    Attributes:
        settings: What decides the numbers.
        data: The data summary (:func:`~mixskd_mm.compare.data.prepare_data`).
        out: The comparison folder (absolute).
        jobs: Runs at once (the report says how many shared the machine).
        split: ``'test'`` with a test split, else ``'val'``: where the numbers are measured.
        pretraining: The schedule every method shares (the crop size defaults to the data's), with its top-k and
            iterations per epoch.
        variants: The sweep's variants (one, the defaults, without a sweep).
        start: Where every backbone of this comparison starts (:class:`~mixskd_mm.compare.starts.PlannedStart`).
        data_dir: The folder of the data's lists (``classes.txt``, ``{train,val,test}.txt``), shared by the starts.
    """

    settings: Settings
    data: Mapping[str, Any]
    out: str
    jobs: int
    split: str
    pretraining: Pretraining
    variants: tuple[Variant, ...]
    start: PlannedStart
    data_dir: str

    @classmethod
    def build(cls, settings: Settings, data: Mapping[str, Any], out: str, jobs: int,
              channels_last: str = 'off', start: PlannedStart | None = None,
              data_dir: str | None = None) -> Comparison:
        """Derive what the settings come to on ``data`` from one start (random weights when none is given): the
        start's schedule defaults where the settings give none, its crop size and normalisation."""
        s = settings
        start = start or PlannedStart.scratch()
        epochs, lr = schedule_defaults(start.start.spec, s.batch, s.epochs, s.lr)
        img_size = s.img_size or (start.start.input_size if start.start.pretrained else None) or data['img_size']
        pretraining = Pretraining.on(data, model=s.model, img_size=img_size, epochs=epochs, batch=s.batch, lr=lr,
                                     workers=s.workers, channels_last=channels_last, amp=s.amp,
                                     pretrained=start.start.weights, normalisation=start.normalisation)
        return cls(settings, data, out, jobs, 'test' if data['has_test'] else 'val', pretraining,
                   tuple(parse_sweep(s.sweep)), start, data_dir or osp.join(out, 'data'))

    @property
    def transfer_seeds(self) -> tuple[int, ...]:
        """The seeds whose backbones are fine-tuned (``--transfer-seeds``: the first N)."""
        seeds = self.settings.seeds
        return seeds[:self.settings.transfer_seeds] if self.settings.transfer_seeds else seeds

    def described(self) -> dict[str, Any]:
        """``results.json``'s ``settings``, what the report describes: the recorded settings with the crop size
        used, the jobs and the memory layout."""
        described = dict(self.settings.recorded(), img_size=self.pretraining.img_size, jobs=self.jobs,
                         channels_last=self.pretraining.channels_last)
        if not self.settings.scratch_only:
            described.update(epochs=self.pretraining.epochs, lr=self.pretraining.lr, start=self.start.as_json())
        return described
