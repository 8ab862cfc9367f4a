"""`tools/compare.py` end to end on a tiny class-folder dataset of real images (Fashion-MNIST crops saved as PNG in
four modes), with every method and two seeds (conftest's shared comparison): its numbers, plots, a second invocation
and a changed setting. The comparisons of their own are in test_compare_runs.py."""
import json
import os
import time

import numpy as np
import pytest
from _compare_data import MODES, compare, png_size

from mixskd_mm.compare.report import verdict
from mixskd_mm.evaluation.metrics.calibration import load_scores

# its module fixture trains many runs: keep the module's tests on one pytest-xdist worker (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group('compare_full')


@pytest.fixture(scope='module')
def full(both):
    """The from-scratch half of conftest's comparison: ``(OUT/starts/scratch, CompletedProcess)``."""
    out, proc = both
    return out / 'starts' / 'scratch', proc


def test_every_method_and_seed_is_reported_from_its_own_score_files(full):
    out, _ = full
    results = json.loads((out / 'results.json').read_text())
    assert list(results['summary']) == ['ce', 'mixup', 'cutmix', 'mixskd', 'mixskd-conv']
    assert results['split'] == 'test' and results['data']['classes'] == ['ankle boot', 'shirt top', 'trouser']
    assert set(results['data']['modes']) == set(MODES)
    for method, row in results['summary'].items():
        assert row['seeds'] == [0, 1]
        runs = [r for r in results['runs'] if r['method'] == method]
        scores = [load_scores(os.path.join(r['work_dir'], 'test_scores.npz')) for r in runs]
        top1 = [100 * float((s['probs'].argmax(1) == s['labels']).mean()) for s in scores]
        assert row['top1']['mean'] == pytest.approx(np.mean(top1))
        assert all(len(s['labels']) == 12 for s in scores)  # the 4 test images of each class, each once
        assert row['train_seconds']['mean'] > 0 and row['max_rss_mib']['mean'] > 100
    assert results['summary']['ce']['train_seconds_vs_ce'] == pytest.approx(1.0)


def test_test_accuracy_equals_what_the_test_tool_logged(full):
    out, _ = full
    run = out / 'runs' / 'mixskd_seed1'
    logged = [json.loads(p.read_text()) for p in run.glob('test/*/*.json')]
    assert logged, 'tools/test.py wrote no metrics json'
    results = json.loads((out / 'results.json').read_text())
    mine = next(r for r in results['runs'] if r['name'] == 'mixskd_seed1')
    assert mine['test']['top1'] == pytest.approx(logged[-1]['accuracy/top1'])
    assert mine['test']['ece'] == pytest.approx(logged[-1]['calibration/ece'], abs=1e-3)


def test_paired_differences_and_verdict_match_the_json(full):
    out, proc = full
    results = json.loads((out / 'results.json').read_text())
    pairs = results['comparisons']
    best_cheap = max(('mixup', 'cutmix'), key=lambda m: results['summary'][m]['val_top1']['mean'])
    assert {(p['method'], p['baseline']) for p in pairs} == {(m, b) for m in ('mixskd', 'mixskd-conv')
                                                             for b in ('ce', best_cheap)}
    for p in pairs:
        a = {r['seed']: r['test']['top1'] for r in results['runs'] if r['method'] == p['method']}
        b = {r['seed']: r['test']['top1'] for r in results['runs'] if r['method'] == p['baseline']}
        diffs = [a[s] - b[s] for s in (0, 1)]
        assert p['top1']['mean'] == pytest.approx(np.mean(diffs))
        half = 12.7062047 * np.std(diffs, ddof=1) / np.sqrt(2)  # t(0.975, 1)
        assert p['top1']['half_width'] == pytest.approx(half, rel=1e-6)
        assert p['top1']['significant'] == bool(abs(np.mean(diffs)) > half)
    report = (out / 'report.md').read_text()
    text = verdict(pairs, results['transfer'], 'test')
    assert text in report and text in proc.stdout
    for p in pairs:
        shown = f'{p["top1"]["mean"]:+.1f} ± {p["top1"]["half_width"]:.1f}'
        label = {'ce': 'CE', 'mixup': 'Mixup', 'cutmix': 'CutMix'}[p['baseline']]
        assert shown + ('' if p['top1']['significant'] else ' (not significant)') + f' over {label}' in text
    assert '| ankle boot |' in report  # per-class table
    for r in results['runs']:  # the exact commands, on configs kept in the work dirs
        assert f'python tools/train.py {r["config"]} --work-dir {r["work_dir"]}' in report
        assert os.path.isfile(r['config'])


def test_plots(full):
    out, _ = full
    results = json.loads((out / 'results.json').read_text())
    assert results['plots'] == ['accuracy.png', 'reliability.png', 'per_class.png', 'cost.png', 'robustness.png',
                                'confusion.png', 'cam.png']
    for name in results['plots']:
        width, height = png_size(out / name)
        assert width > 200 and height > 200


def test_second_invocation_retrains_nothing(both, both_args):
    out, _ = both
    before = {p: p.stat().st_mtime for p in out.glob('starts/*/runs/*/*.pth')}
    assert len(before) == 20
    start = time.time()
    proc = compare('--out', str(out), *both_args)
    assert time.time() - start < 60
    assert 'pretraining runs to do' not in proc.stdout
    assert {p: p.stat().st_mtime for p in out.glob('starts/*/runs/*/*.pth')} == before
    assert len(list(out.glob('starts/scratch/logs/*.log'))) == 30  # 10 train, 10 test, 10 corruption logs, no new ones


def test_changed_settings_are_refused(both, both_args):
    out, _ = both
    proc = compare('--out', str(out), *both_args, '--epochs', '2', check=False)  # the last --epochs counts
    assert proc.returncode != 0
    assert 'epochs: 1 in' in proc.stderr and 'now 2' in proc.stderr and 'Use a new --out' in proc.stderr
