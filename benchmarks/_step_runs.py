"""The training variants of ``bench_train_step.py``: what each one builds, and how one step of it runs.

A variant is a network (``ce``, ``ce-2b``, ``replicate``, ``conv``, ``replicate-lowmem``) and the three settings
this package sets by default: memory format, glibc allocator and precision. Variants without a suffix take what
``tools/train.py`` runs with the pretraining configs (``--channels-last``, ``--malloc pinned``, fp32 unless
``--amp``); ``replicate-ref`` reproduces the step before these defaults (contiguous tensors, glibc's default
allocator, fp32), the reference of every ratio; ``replicate-contiguous``, ``replicate-mmap`` and
``replicate-amp`` change one setting of ``replicate`` each, to measure it alone; ``replicate-auto`` and
``conv-auto`` take ``channels_last='auto'`` (:mod:`mixskd_mm.models.memory_format`).
"""
from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from mixskd_mm.engine.cpu_perf import set_malloc
from mixskd_mm.models.classifiers import ImageClassifier, MixSKD

#: variant -> (network, settings it fixes; the others come from the command line)
VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    'ce': ('ce', {}), 'ce-2b': ('ce-2b', {}), 'replicate': ('replicate', {}), 'conv': ('conv', {}),
    'replicate-lowmem': ('replicate-lowmem', {}),
    'replicate-ref': ('replicate', dict(channels_last=False, malloc='default', amp=False)),
    'replicate-contiguous': ('replicate', dict(channels_last=False)),
    'replicate-mmap': ('replicate', dict(malloc='default')),
    'replicate-amp': ('replicate', dict(amp=True)),
    'replicate-auto': ('replicate', dict(channels_last='auto')),
    'conv-auto': ('conv', dict(channels_last='auto')),
}
REFERENCE = 'replicate-ref'
DEFAULT_RUNS = ('ce', 'ce-2b', 'replicate', 'conv', 'replicate-lowmem', REFERENCE)


@dataclass
class Run:
    """One training variant: its model and optimiser, its settings, and where its steps run."""

    name: str
    network: str
    model: nn.Module
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    channels_last: object  # True, False or 'auto'
    malloc: str
    amp: bool
    call: Callable[[Callable[[], None]], None]

    @property
    def settings(self) -> dict[str, object]:
        return dict(channels_last=self.channels_last, malloc=self.malloc, amp=self.amp)


class ArenaThread:
    """Runs calls in one thread of its own, so their memory comes from a glibc arena the other variants never use.

    The allocator settings are process-wide, but a free chunk belongs to its arena: with the default variants'
    steps in the main thread, the big chunks the pinned heap keeps stay invisible to a ``malloc='default'`` step,
    which maps its big buffers afresh as a process with glibc's defaults does.
    """

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix='malloc-default')

    def __call__(self, fn: Callable[[], None]) -> None:
        self.pool.submit(fn).result()


def _in_main_thread(fn: Callable[[], None]) -> None:
    fn()


def build_model(network: str, channels_last: object, args: argparse.Namespace) -> nn.Module:
    backbone = dict(type='TimmStageBackbone', model_name=args.model, cifar_stem=args.cifar_stem)
    if network in ('ce', 'ce-2b'):
        model = ImageClassifier(backbone, args.num_classes, channels_last=channels_last)
    elif network == 'replicate-lowmem':  # selective recomputation in backbone and exits
        model = MixSKD(dict(backbone, with_cp='selective'), args.num_classes, 'replicate', exit_with_cp='selective',
                       channels_last=channels_last)
    else:
        model = MixSKD(dict(backbone, with_cp=args.cp), args.num_classes, network, exit_with_cp=args.cp,
                       channels_last=channels_last)
    return model.to(args.device).train()


def build_run(name: str, args: argparse.Namespace, arena: ArenaThread | None = None) -> Run:
    network, fixed = VARIANTS[name]
    settings = dict(dict(channels_last=args.channels_last, malloc=args.malloc, amp=args.amp), **fixed)
    model = build_model(network, settings['channels_last'], args)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scaler = torch.amp.GradScaler('cuda', enabled=bool(settings['amp']) and args.device == 'cuda')
    call = arena if settings['malloc'] == 'default' and arena is not None else _in_main_thread
    return Run(name, network, model, opt, scaler, call=call, **settings)


def batch(run: Run, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of a variant: ``ce-2b`` takes the 2B images a MixSKD step forwards (the batch repeated)."""
    if run.network == 'ce-2b':
        x, y = torch.cat([x, x]), torch.cat([y, y])
    channels_last = run.model.channels_last is True  # the model's argument decides, as in ImageClassifier.forward
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format), y


def train_step(run: Run, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> None:
    """One optimiser step, as MMEngine's ``train_step`` after preprocessing, with the run's allocator mode."""
    set_malloc(run.malloc)
    with torch.autocast(args.device, dtype=args.amp_dtype, enabled=run.amp):
        losses = run.model.loss(x, y)
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.opt)
    run.scaler.update()
    run.opt.zero_grad()


def timed_step(run: Run, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> Callable[[], None]:
    """The call the timing loop makes: the step, in the thread the run's allocator mode asks for."""
    return lambda: run.call(lambda: train_step(run, x, y, args))
