"""Cost of one MixSKD training step against plain cross-entropy and against the step before the fast defaults.

Variants ``ce`` (``ImageClassifier``, CE on B images); ``ce-2b`` (the same on the 2B images a MixSKD step
forwards: how this machine's step cost scales with batch size, the floor under MixSKD's time ratio);
``replicate`` / ``conv`` (``MixSKD`` with that ``exit_type``, one forward on 2B images); ``replicate-lowmem``
(``replicate`` with selective recomputation, ``with_cp='selective'`` in backbone and exits: convolution
outputs kept, norms and activations recomputed in the backward pass) run in ONE process, interleaved step by
step after a warm-up. They run with what ``tools/train.py`` and the pretraining configs set by default:
channels-last weights and batches, glibc's allocator pinned, fp32 (``--amp``: bf16 autocast on the CPU, fp16
on CUDA). ``replicate-ref`` is the reference: the ``replicate`` step with contiguous tensors, glibc's default
allocator (its steps run in a thread of their own, so their buffers come from an arena the pinned variants do
not keep memory in) and fp32, the step before these defaults; every variant's time is also given as a ratio to
it, beside its ratio of forward multiply-adds. ``replicate-contiguous``, ``replicate-mmap`` and ``replicate-amp``
(``--runs``) change one setting of ``replicate`` each; ``replicate-auto`` and ``conv-auto`` run with
``channels_last='auto'`` (each convolution shape in the layout timed faster on this machine, chosen after the first
warm-up step). The adversarial term's discriminators run once per exit
on both views in every variant (the reference included), as the model does.

A step is mmengine's ``train_step`` after preprocessing: ``model.loss(x, y)``, sum of the ``'loss'`` entries,
backward, SGD step, zero_grad. Reported: parameters, median ms per step, images/s
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
        --batch 64 --num-classes 1000 --amp
    python benchmarks/bench_train_step.py --runs ce,conv --model test_resnet --no-cifar-stem  # a subset, tiny model
    python benchmarks/bench_train_step.py \\
        --runs replicate,replicate-ref,replicate-contiguous,replicate-mmap,replicate-amp  # each setting alone
    python benchmarks/bench_train_step.py --runs ce,replicate,replicate-auto,conv,conv-auto,replicate-ref

Also printed: this CPU's flags that bear on bf16 (``avx512_bf16``, ``amx_bf16``, ...).

Targets, printed beside the ratios and never asserted: step time replicate <= 0.75x and conv <= 0.45x the
reference; replicate's time ratio to CE <= its multiply-add ratio; peak memory replicate-lowmem/CE <= 2.5x.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
from typing import Any

import timm
import torch
from _step_measures import bf16_flags, forward_gmacs, inference, interleaved_ms, machine, op_profile, peak_bytes
from _step_runs import DEFAULT_RUNS, REFERENCE, VARIANTS, ArenaThread, batch, build_model, build_run, timed_step
from mmengine.logging import MMLogger

from mixskd_mm.engine.cpu_perf import MALLOC_MODES
from mixskd_mm.models.classifiers import MixSKD

#: targets, printed beside the ratios (vs_ref: time vs the reference; vs_ce_macs: time ratio to CE <= MACs ratio)
TARGETS = {'replicate': dict(vs_ref=0.75, vs_ce_macs=True), 'conv': dict(vs_ref=0.45),
           'replicate-lowmem': dict(memory=2.5)}
RATIOS = (('time_ratio', 'ms_step', 'ce'), ('memory_ratio', 'peak_mib', 'ce'), ('macs_ratio', 'fwd_gmacs', 'ce'),
          ('time_vs_ref', 'ms_step', REFERENCE), ('macs_vs_ref', 'fwd_gmacs', REFERENCE))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.img_size, args.img_size).to(args.device)
    y = torch.randint(0, args.num_classes, (args.batch,)).to(args.device)
    arena = ArenaThread() if args.device == 'cpu' else None
    runs = [build_run(name, args, arena) for name in args.runs]
    data = {run.name: batch(run, x, y) for run in runs}
    times = interleaved_ms({run.name: timed_step(run, *data[run.name], args) for run in runs}, args)
    results: dict[str, dict[str, Any]] = {}
    for run in runs:
        ms = statistics.median(times[run.name])
        results[run.name] = dict(
            params_m=sum(p.numel() for p in run.model.parameters()) / 1e6, ms_step=ms, ms_step_all=times[run.name],
            images_per_s=args.batch / ms * 1e3, peak_mib=peak_bytes(run, *data[run.name], args) / 2**20,
            fwd_gmacs=forward_gmacs(run.model, *data[run.name]), settings=run.settings,
            targets=TARGETS.get(run.name, {}))
    if args.profile:
        for run in runs:
            results[run.name]['profile'] = op_profile(run, *data[run.name], args)
    for r in results.values():
        if 'profile' in r and 'ce' in results:
            r['profile']['conv_vs_ce_step'] = r['profile']['conv'] / results['ce']['profile']['total']
        for key, measured, base in RATIOS:
            r[key] = r[measured] / results[base][measured] if base in results else None
    mixskd = next((r.model for r in runs if isinstance(r.model, MixSKD)), None) or build_model('conv', False, args)
    x = x.contiguous(memory_format=args.memory_format)
    settings = {k: v for k, v in vars(args).items() if k not in ('amp_dtype', 'memory_format')}
    return dict(machine=f'{args.device} {machine(args.device)}, {args.threads} threads, torch {torch.__version__}, '
                f'timm {timm.__version__}', cpu_bf16=bf16_flags(), settings=settings, variants=results,
                inference=inference(args, mixskd, x))


def _ratio(value: float | None, target: float | None = None) -> str:
    if value is None:
        return '-'
    met = '' if target is None else f' (<= {target}x: {"met" if value <= target else "MISSED"})'
    return f'{value:.2f}x{met}'


def _settings(s: dict[str, Any]) -> str:
    layout = {True: 'cl', False: 'contig'}.get(s['channels_last'], s['channels_last'])
    return f'{layout}/{s["malloc"]}/{"amp" if s["amp"] else "fp32"}'


def print_variants(report: dict[str, Any]) -> None:
    print(f'{"variant":<20} {"settings":<20} {"ms/step":>8} {"img/s":>6}  {"time vs CE":<10} {"MACs vs CE":<10} '
          f'{"time vs ref":<22} {"MACs vs ref":<11} {"peak MiB":>8} {"mem vs CE":<21} {"params M":>8}')
    for name, r in report['variants'].items():
        t = r['targets']
        vs_ce = _ratio(r['time_ratio'])
        if t.get('vs_ce_macs') and r['time_ratio'] is not None:
            vs_ce += ' (<= MACs: ' + ('met)' if r['time_ratio'] <= r['macs_ratio'] else 'MISSED)')
        print(f'{name:<20} {_settings(r["settings"]):<20} {r["ms_step"]:>8.1f} {r["images_per_s"]:>6.1f}  '
              f'{vs_ce:<10} {_ratio(r["macs_ratio"]):<10} {_ratio(r["time_vs_ref"], t.get("vs_ref")):<22} '
              f'{_ratio(r["macs_vs_ref"]):<11} {r["peak_mib"]:>8.1f} {_ratio(r["memory_ratio"], t.get("memory")):<21} '
              f'{r["params_m"]:>8.1f}')


def print_report(report: dict[str, Any]) -> None:
    a, infer, bf16 = report['settings'], report['inference'], report['cpu_bf16']
    print(f'machine: {report["machine"]}')
    print(f'cpu bf16 flags: {", ".join(bf16["flags"]) or "none"} ({bf16["reason"]})')
    print(f'setting: {a["model"]} (cifar_stem={a["cifar_stem"]}), batch {a["batch"]} originals (MixSKD: 2x that '
          f'images), {a["img_size"]}x{a["img_size"]}, {a["num_classes"]} classes; defaults: channels_last='
          f'{a["channels_last"]}, malloc={a["malloc"]}, amp={a["amp"]}; reference {REFERENCE}: contiguous, glibc '
          f'default allocator, fp32; median of {a["steps"]} interleaved steps after {a["warmup"]} warm-up')
    print_variants(report)
    if any('profile' in r for r in report['variants'].values()):
        print('profile (torch.profiler, op self time per step; it slows every op: compare shares and ratios): '
              'convolutions fwd+bwd / normalisation / other, and convolution time vs the whole CE step')
        for name, r in report['variants'].items():
            prof = r['profile']
            shares = ' / '.join(f'{100 * prof[k] / prof["total"]:.0f} %' for k in ('conv', 'norm', 'other'))
            floor = prof.get('conv_vs_ce_step')
            print(f'  {name:<20} {prof["total"]:>9.1f} ms  {shares:<18}  conv vs CE step: '
                  + (f'{floor:.2f}x' if floor is not None else '-'))
    timed = ', '.join(f'{n} {infer[n]["ms_forward"]:.1f} ({infer[n]["images_per_s"]:.0f} img/s)'
                      for n in ('deployable', 'timm'))
    gap = infer['max_abs_output_diff']
    print(f'inference, batch {a["batch"]}, ms per forward: {timed}, ratio {infer["ratio"]:.3f}; max |output diff| '
          + (f'{gap:.2e} (same weights)' if gap is not None else 'n/a (state dicts differ)'))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    p.add_argument('--model', default='resnet18', help='timm model name')
    p.add_argument('--cifar-stem', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--batch', type=int, default=64, help='original images per step')
    p.add_argument('--img-size', type=int, default=32)
    p.add_argument('--num-classes', type=int, default=100)
    p.add_argument('--amp', action='store_true', help='bf16 autocast on CPU, fp16 + GradScaler on CUDA')
    p.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True,
                   help='channels-last weights and batches (the configs\' default)')
    p.add_argument('--malloc', choices=MALLOC_MODES, default='pinned', help="glibc allocator (tools/train.py's)")
    p.add_argument('--cp', choices=('none', 'full', 'selective'), default='none',
                   help="recomputation (backbone with_cp and MixSKD exit_with_cp) of the replicate and conv "
                        "variants; replicate-lowmem always uses 'selective'")
    p.add_argument('--threads', type=int, default=2, help='torch.set_num_threads')
    p.add_argument('--steps', type=int, default=20, help='timed steps per variant (after the warm-up)')
    p.add_argument('--warmup', type=int, default=5, help='untimed steps per variant')
    p.add_argument('--runs', default=','.join(DEFAULT_RUNS), help='comma-separated subset of ' + ','.join(VARIANTS))
    p.add_argument('--profile', action='store_true',
                   help='also profile 2 steps per variant: time in convolutions, normalisation and the rest')
    p.add_argument('--json', help='also write the results to this file')
    args = p.parse_args(argv)
    args.runs = [r.strip() for r in args.runs.split(',') if r.strip()]
    args.cp = False if args.cp == 'none' else args.cp
    if not args.runs or any(r not in VARIANTS for r in args.runs) or args.steps < 1 or args.warmup < 0:
        p.error(f'--runs takes a comma-separated subset of {tuple(VARIANTS)}; --steps >= 1; --warmup >= 0')
    args.amp_dtype = torch.bfloat16 if args.device == 'cpu' else torch.float16
    args.memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
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
