"""Cost of one MixSKD training step against plain cross-entropy: same backbone, batch and input.

Variants ``ce`` (``ImageClassifier``, CE on B images); ``ce-2b`` (the same on the 2B images a MixSKD step
forwards: how this machine's step cost scales with batch size, the floor under MixSKD's time ratio);
``replicate`` / ``conv`` (``MixSKD`` with that ``exit_type``, one forward on 2B images); ``replicate-lowmem``
(``replicate`` with selective recomputation, ``with_cp='selective'`` in backbone and exits: convolution
outputs kept, norms and activations recomputed in the backward pass) run in ONE process, interleaved step by
step after a warm-up. A step is mmengine's ``train_step`` after preprocessing: ``model.loss(x, y)``, sum of
the ``'loss'`` entries, backward, SGD step, zero_grad. Reported: parameters, median ms per step, images/s
(the B originals a step consumes), peak memory of a steady-state step, forward multiply-adds of a step
(``FlopCounterMode``).

Peak memory = bytes of live tensor storages (parameters, buffers, optimiser state, inputs, and all the
step allocates) at their highest. CUDA: ``torch.cuda.max_memory_allocated`` above the memory allocated
before the step (peak reset per variant). CPU: a ``TorchDispatchMode`` adds every storage an op returns
and drops it when freed, the analogue of ``max_memory_allocated``. Not counted: allocator caching and
fragmentation, and on CPU scratch buffers allocated inside a kernel (oneDNN).

``--profile`` adds where each variant's step time goes (``torch.profiler``, self time of each op summed into
convolutions forward + backward, normalisation, everything else) and each variant's convolution time against
CE's whole profiled step: with the layers' own kernels, the floor under the time ratio. The profiler slows
every op, so compare shares and ratios, not milliseconds, with the timed table.

Also timed: the exported network (``MixSKD.to_deployable()``, eval, no_grad) against ``timm.create_model``
with the same stem and weights: ms per forward should agree within noise, outputs to float precision.

Usage (from the repository root)::

    # CIFAR ResNet-18, batch 64, 32x32, 100 classes, CPU, 2 threads (the defaults)
    python benchmarks/bench_train_step.py --steps 10 --warmup 3 --json bench_cifar.json
    # GPU ImageNet setting
    python benchmarks/bench_train_step.py --device cuda --model resnet50 --no-cifar-stem --img-size 224 \\
        --batch 64 --num-classes 1000 --amp --channels-last
    python benchmarks/bench_train_step.py --runs ce,conv --model test_resnet --no-cifar-stem  # a subset, tiny model

Targets, printed beside the ratios and never asserted: step time replicate/CE <= 4.0x, conv/CE <= 2.5x;
peak memory replicate/CE <= 2.5x (for both replicate variants).
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Dict, List, Optional

import timm
import torch
from mmengine.logging import MMLogger
from torch import nn
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from mixskd_mm.models.classifiers import ImageClassifier, MixSKD
from mixskd_mm.utils.memory import LiveTensorBytes

VARIANTS = ('ce', 'ce-2b', 'replicate', 'conv', 'replicate-lowmem')
TARGETS = {'replicate': dict(time=4.0, memory=2.5), 'conv': dict(time=2.5),
           'replicate-lowmem': dict(time=4.0, memory=2.5)}


@dataclass
class Run:
    """One training variant: model, optimiser and its AMP grad scaler."""

    name: str
    model: nn.Module
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler


def machine(device: str) -> str:
    if device == 'cuda':
        return torch.cuda.get_device_name()
    with open('/proc/cpuinfo') as f:
        return next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), 'unknown CPU')


def interleaved_ms(fns: Dict[str, Callable[[], Any]], args: argparse.Namespace) -> Dict[str, List[float]]:
    """ms per call of each function, called in turn (A B C A B C ...); warm-up rounds are dropped."""
    sync = torch.cuda.synchronize if args.device == 'cuda' else lambda: None
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for i in range(args.warmup + args.steps):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            if i >= args.warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    return times


def build_model(name: str, args: argparse.Namespace) -> nn.Module:
    backbone = dict(type='TimmStageBackbone', model_name=args.model, cifar_stem=args.cifar_stem)
    if name in ('ce', 'ce-2b'):
        model = ImageClassifier(backbone, args.num_classes)
    elif name == 'replicate-lowmem':  # selective recomputation in backbone and exits
        model = MixSKD(dict(backbone, with_cp='selective'), args.num_classes, 'replicate', exit_with_cp='selective')
    else:
        model = MixSKD(dict(backbone, with_cp=args.cp), args.num_classes, name, exit_with_cp=args.cp)
    return model.to(args.device, memory_format=args.memory_format).train()


def build_run(name: str, args: argparse.Namespace) -> Run:
    model = build_model(name, args)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return Run(name, model, opt, torch.amp.GradScaler('cuda', enabled=args.amp and args.device == 'cuda'))


def train_step(run: Run, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> None:
    with torch.autocast(args.device, dtype=args.amp_dtype, enabled=args.amp):
        losses = run.model.loss(x, y)
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.opt)
    run.scaler.update()
    run.opt.zero_grad()


def peak_bytes(run: Run, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> int:
    """Peak live tensor bytes of one steady-state step (see the module docstring)."""
    state = [v for s in run.opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    tracker = LiveTensorBytes([*run.model.parameters(), *run.model.buffers(), *state, x, y])
    if args.device == 'cuda':
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        train_step(run, x, y, args)
        torch.cuda.synchronize()
        return tracker.current + torch.cuda.max_memory_allocated() - before
    with tracker:
        train_step(run, x, y, args)
    return tracker.peak


def forward_gmacs(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.loss(x, y)
    return counter.get_total_flops() / 2e9  # the counter reports 2 FLOPs per multiply-add


OP_CLASSES = (('conv', ('convolution',)), ('norm', ('batch_norm', 'layer_norm', 'group_norm')))


def op_profile(run: Run, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace,
               steps: int = 2) -> Dict[str, float]:
    """ms per step spent in convolutions (forward and backward), normalisation and the rest, by op self time."""
    cuda = args.device == 'cuda'
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            train_step(run, x, y, args)
        if cuda:
            torch.cuda.synchronize()
    ms = dict.fromkeys([name for name, _ in OP_CLASSES] + ['other'], 0.0)
    for event in prof.key_averages():
        if event.device_type != DeviceType.CPU:
            continue  # GPU kernels are also counted under the op that launched them (its device time)
        self_us = event.self_device_time_total if cuda else event.self_cpu_time_total
        cls = next((name for name, keys in OP_CLASSES if any(k in event.key for k in keys)), 'other')
        ms[cls] += self_us / 1e3 / steps
    return dict(ms, total=sum(ms.values()))


def inference(args: argparse.Namespace, mixskd: MixSKD, x: torch.Tensor) -> Dict[str, Any]:
    """Deployable MixSKD network vs the plain timm model: ms per forward (interleaved), output gap."""
    deploy = mixskd.to_deployable().eval()
    ref = timm.create_model(args.model, num_classes=args.num_classes)
    if args.cifar_stem:  # what TimmStageBackbone(cifar_stem=True) does: 3x3 stride-1 stem conv, no max-pool
        ref.conv1, ref.maxpool = nn.Conv2d(3, ref.conv1.out_channels, 3, 1, 1, bias=False), nn.Identity()
    classifier = next(n for n, m in ref.named_modules() if m is ref.get_classifier())
    weights = deploy.backbone.state_dict()
    weights.update({f'{classifier}.{k}': v for k, v in deploy.head.fc.state_dict().items()})
    same_keys = weights.keys() == ref.state_dict().keys()
    if same_keys:
        ref.load_state_dict(weights)
    ref = ref.to(args.device, memory_format=args.memory_format).eval()
    with torch.no_grad(), torch.autocast(args.device, dtype=args.amp_dtype, enabled=args.amp):
        rounds = argparse.Namespace(**dict(vars(args), steps=max(args.steps, 20)))  # cheap: time more calls
        times = interleaved_ms(dict(deployable=lambda: deploy(x), timm=lambda: ref(x)), rounds)
        gap = (deploy(x).float() - ref(x).float()).abs().max().item() if same_keys else None
    out = {name: dict(ms_forward=statistics.median(t), images_per_s=x.size(0) / statistics.median(t) * 1e3)
           for name, t in times.items()}
    return dict(out, ratio=out['deployable']['ms_forward'] / out['timm']['ms_forward'], max_abs_output_diff=gap)


def measure(args: argparse.Namespace) -> Dict[str, Any]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.img_size, args.img_size).to(args.device, memory_format=args.memory_format)
    y = torch.randint(0, args.num_classes, (args.batch,)).to(args.device)
    # ce-2b: plain CE on the 2B images a MixSKD step forwards (the batch repeated), to show how this machine's
    # step cost scales with batch size -- the floor under MixSKD's own time ratio
    data = {name: (torch.cat([x, x]), torch.cat([y, y])) if name == 'ce-2b' else (x, y) for name in args.runs}
    runs = [build_run(name, args) for name in args.runs]
    times = interleaved_ms({run.name: partial(train_step, run, *data[run.name], args) for run in runs}, args)
    results: Dict[str, Dict[str, Any]] = {}
    for run in runs:
        ms = statistics.median(times[run.name])
        results[run.name] = dict(
            params_m=sum(p.numel() for p in run.model.parameters()) / 1e6, ms_step=ms, ms_step_all=times[run.name],
            images_per_s=args.batch / ms * 1e3, peak_mib=peak_bytes(run, *data[run.name], args) / 2**20,
            fwd_gmacs=forward_gmacs(run.model, *data[run.name]), targets=TARGETS.get(run.name, {}))
    if args.profile:
        for run in runs:
            results[run.name]['profile'] = op_profile(run, *data[run.name], args)
    for r in results.values():
        if 'profile' in r and 'ce' in results:
            r['profile']['conv_vs_ce_step'] = r['profile']['conv'] / results['ce']['profile']['total']
        for key, measured in (('time_ratio', 'ms_step'), ('memory_ratio', 'peak_mib'), ('macs_ratio', 'fwd_gmacs')):
            r[key] = r[measured] / results['ce'][measured] if 'ce' in results else None
    mixskd = next((r.model for r in runs if isinstance(r.model, MixSKD)), None) or build_model('conv', args)
    settings = {k: v for k, v in vars(args).items() if k not in ('amp_dtype', 'memory_format')}
    return dict(machine=f'{args.device} {machine(args.device)}, {args.threads} threads, torch {torch.__version__}, '
                f'timm {timm.__version__}', settings=settings, variants=results, inference=inference(args, mixskd, x))


def print_report(report: Dict[str, Any]) -> None:
    a, infer = report['settings'], report['inference']
    print(f'machine: {report["machine"]}')
    print(f'setting: {a["model"]} (cifar_stem={a["cifar_stem"]}), batch {a["batch"]} originals (MixSKD: 2x that '
          f'images), {a["img_size"]}x{a["img_size"]}, {a["num_classes"]} classes, amp={a["amp"]}, '
          f'channels_last={a["channels_last"]}; median of {a["steps"]} interleaved steps after {a["warmup"]} warm-up')

    def ratio(value: Optional[float], target: Optional[float] = None) -> str:
        if value is None:
            return '-'
        met = '' if target is None else f' (target <= {target}x: {"met" if value <= target else "MISSED"})'
        return f'{value:.2f}x{met}'

    print(f'{"variant":<16} {"params M":>8} {"ms/step":>9} {"img/s":>7}  {"time vs CE":<28} {"peak MiB":>9}  '
          f'{"memory vs CE":<28} {"fwd GMACs":>9} {"MACs vs CE":>10}')
    for name, r in report['variants'].items():
        t = r['targets']
        print(f'{name:<16} {r["params_m"]:>8.1f} {r["ms_step"]:>9.1f} {r["images_per_s"]:>7.1f}  '
              f'{ratio(r["time_ratio"], t.get("time")):<28} {r["peak_mib"]:>9.1f}  '
              f'{ratio(r["memory_ratio"], t.get("memory")):<28} {r["fwd_gmacs"]:>9.2f} {ratio(r["macs_ratio"]):>10}')
    if any('profile' in r for r in report['variants'].values()):
        print('profile (torch.profiler, op self time per step; it slows every op: compare shares and ratios): '
              'convolutions fwd+bwd / normalisation / other, and convolution time vs the whole CE step')
        for name, r in report['variants'].items():
            prof = r['profile']
            shares = ' / '.join(f'{100 * prof[k] / prof["total"]:.0f} %' for k in ('conv', 'norm', 'other'))
            floor = prof.get('conv_vs_ce_step')
            print(f'  {name:<16} {prof["total"]:>9.1f} ms  {shares:<18}  conv vs CE step: '
                  + (f'{floor:.2f}x' if floor is not None else '-'))
    timed = ', '.join(f'{n} {infer[n]["ms_forward"]:.1f} ({infer[n]["images_per_s"]:.0f} img/s)'
                      for n in ('deployable', 'timm'))
    gap = infer['max_abs_output_diff']
    print(f'inference, batch {a["batch"]}, ms per forward: {timed}, ratio {infer["ratio"]:.3f}; max |output diff| '
          + (f'{gap:.2e} (same weights)' if gap is not None else 'n/a (state dicts differ)'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    p.add_argument('--model', default='resnet18', help='timm model name')
    p.add_argument('--cifar-stem', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--batch', type=int, default=64, help='original images per step')
    p.add_argument('--img-size', type=int, default=32)
    p.add_argument('--num-classes', type=int, default=100)
    p.add_argument('--amp', action='store_true', help='bf16 autocast on CPU, fp16 + GradScaler on CUDA')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--cp', choices=('none', 'full', 'selective'), default='none',
                   help="recomputation (backbone with_cp and MixSKD exit_with_cp) of the replicate and conv "
                        "variants; replicate-lowmem always uses 'selective'")
    p.add_argument('--threads', type=int, default=2, help='torch.set_num_threads')
    p.add_argument('--steps', type=int, default=20, help='timed steps per variant (after the warm-up)')
    p.add_argument('--warmup', type=int, default=5, help='untimed steps per variant')
    p.add_argument('--runs', default=','.join(VARIANTS), help='comma-separated subset of ' + ','.join(VARIANTS))
    p.add_argument('--profile', action='store_true',
                   help='also profile 2 steps per variant: time in convolutions, normalisation and the rest')
    p.add_argument('--json', help='also write the results to this file')
    args = p.parse_args(argv)
    args.runs = [r.strip() for r in args.runs.split(',') if r.strip()]
    args.cp = False if args.cp == 'none' else args.cp
    if not args.runs or any(r not in VARIANTS for r in args.runs) or args.steps < 1 or args.warmup < 0:
        p.error(f'--runs takes a comma-separated subset of {VARIANTS}; --steps >= 1; --warmup >= 0')
    args.amp_dtype = torch.bfloat16 if args.device == 'cpu' else torch.float16
    args.memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    return args


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    args = parse_args(argv)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # one backbone log line per build otherwise
    report = measure(args)
    print_report(report)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
