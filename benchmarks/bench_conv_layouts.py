"""Convolution speed per memory layout: channels-last against contiguous, per layer shape, on this machine.

Times one 3x3 convolution of each stage of a ResNet-18 (CIFAR stem by default: 64 channels on 32 x 32 maps down to
512 on 4 x 4; ``--img-size 64 --stride0 4`` gives the timm stem's 16 x 16 down to 2 x 2) in both layouts, forward,
backward to the input and backward to the weights, and prints GFLOP/s (2 FLOPs per multiply-add) and which layout
is faster. It is what ``channels_last='auto'`` (``mixskd_mm/models/memory_format.py``) measures per shape while a
model trains, laid out for reading. Medians of ``--calls`` calls after one untimed call.

Usage (from the repository root)::

    python benchmarks/bench_conv_layouts.py                      # batch 128 (a MixSKD step at batch 64), 2 threads
    python benchmarks/bench_conv_layouts.py --img-size 64 --stride0 4 --batch 64
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

LAYOUTS = {'channels-last': torch.channels_last, 'contiguous': torch.contiguous_format}
PASSES = ('forward', 'grad input', 'grad weight')


def _median_s(fn: Callable[[], object], calls: int) -> float:
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_layer(batch: int, channels: int, size: int, layout: torch.memory_format, calls: int) -> dict[str, float]:
    """GFLOP/s of a 3x3, stride-1 convolution ``channels -> channels`` on ``size x size`` maps, per pass."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size, size, generator=gen).contiguous(memory_format=layout)
    w = torch.randn(channels, channels, 3, 3, generator=gen)
    grad = torch.randn(batch, channels, size, size, generator=gen).contiguous(memory_format=layout)
    flops = 2 * batch * channels * channels * 9 * size * size

    def backward(mask):
        return lambda: torch.ops.aten.convolution_backward(grad, x, w, None, (1, 1), (1, 1), (1, 1), False, (0, 0), 1,
                                                           mask)
    runs = dict(zip(PASSES, (lambda: F.conv2d(x, w, None, 1, 1), backward((True, False, False)),
                             backward((False, True, False)))))
    return {name: flops / _median_s(fn, calls) / 1e9 for name, fn in runs.items()}


def measure(args: argparse.Namespace) -> list[dict]:
    torch.set_num_threads(args.threads)
    rows = []
    size, channels = args.img_size // args.stride0, 64
    while size >= 1 and channels <= 512:
        speeds = {name: time_layer(args.batch, channels, size, fmt, args.calls) for name, fmt in LAYOUTS.items()}
        total = {name: sum(1 / s for s in v.values()) for name, v in speeds.items()}  # time per FLOP, all passes
        rows.append(dict(channels=channels, size=size, speeds=speeds, faster=min(total, key=total.get),
                         cl_vs_contiguous=total['channels-last'] / total['contiguous']))
        size, channels = size // 2, channels * 2
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--batch', type=int, default=128, help='images per call (a MixSKD step forwards 2B)')
    p.add_argument('--img-size', type=int, default=32)
    p.add_argument('--stride0', type=int, default=1, help="stage 1's stride: 1 (CIFAR stem) or 4 (timm stem)")
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--calls', type=int, default=5)
    args = p.parse_args(argv)
    rows = measure(args)
    print(f'{torch.__version__}, {args.threads} threads, batch {args.batch}, 3x3 convolutions, GFLOP/s '
          f'(forward / grad input / grad weight)')
    print(f'{"layer":<16} {"channels-last":<20} {"contiguous":<20} {"faster":<14} cl time / contiguous')
    for r in rows:
        cells = ['/'.join(f'{r["speeds"][name][k]:.0f}' for k in PASSES) for name in LAYOUTS]
        shape = f'{r["channels"]:>3} ch {r["size"]:>2}x{r["size"]:<2}'
        print(f'{shape:<16} {cells[0]:<20} {cells[1]:<20} {r["faster"]:<14} {r["cl_vs_contiguous"]:.2f}')
    return rows


if __name__ == '__main__':
    main()
