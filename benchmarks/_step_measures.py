"""What ``bench_train_step.py`` measures besides step time: machine, peak memory, multiply-adds, op profile,
inference parity. See that script's docstring for the definitions."""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import timm
import torch
from _step_runs import Run, train_step
from torch import nn
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from mixskd_mm.engine.cpu_perf import BF16_FLAGS, cpu_flags, native_bf16
from mixskd_mm.models.classifiers import MixSKD
from mixskd_mm.utils.memory import LiveTensorBytes


def machine(device: str) -> str:
    if device == 'cuda':
        return torch.cuda.get_device_name()
    with open('/proc/cpuinfo') as f:
        return next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), 'unknown CPU')


def bf16_flags() -> dict[str, Any]:
    """This CPU's flags that bear on bf16 speed, and whether it computes bf16 natively."""
    flags = cpu_flags()
    relevant = [f for f in (*BF16_FLAGS, 'amx_tile', 'avx512_fp16', 'avx512f', 'avx512_vnni') if f in flags]
    supported, reason = native_bf16(flags)
    return dict(flags=relevant, native_bf16=supported, reason=reason)


def interleaved_ms(fns: dict[str, Callable[[], Any]], args: argparse.Namespace) -> dict[str, list[float]]:
    """ms per call of each function, called in turn (A B C A B C ...); warm-up rounds are dropped."""
    sync = torch.cuda.synchronize if args.device == 'cuda' else lambda: None
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(args.warmup + args.steps):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            if i >= args.warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    return times


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
               steps: int = 2) -> dict[str, float]:
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


def inference(args: argparse.Namespace, mixskd: MixSKD, x: torch.Tensor) -> dict[str, Any]:
    """Deployable MixSKD network vs the plain timm model: ms per forward (interleaved), output gap."""
    deploy = mixskd.to_deployable().to(memory_format=args.memory_format).eval()
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
