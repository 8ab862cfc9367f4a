"""The evaluation under common corruptions of tools/compare.py: that it measures what it says (a fine detail is lost
under blur, not under brightness), that every method reads byte-identical inputs, that the report, results.json and
verdict are the runs' own files recomputed, and that --no-robustness turns it off."""
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from _compare_data import NO_INIT, compare
from _helpers import run_tool
from PIL import Image

from mixskd_mm.compare.corrupted import CorruptedData, CorruptionEval, write_corrupted
from mixskd_mm.compare.robustness import InputsDiffer, read_evaluation
from mixskd_mm.compare.study import PretrainRun, RunKey, Variant
from mixskd_mm.evaluation.metrics.calibration import load_scores
from mixskd_mm.evaluation.metrics.input_digests import image_digest, load_digests

pytestmark = pytest.mark.xdist_group('compare_full')  # shares conftest's comparison


def write_fine_detail(root, per_class=(128, 20), seed=0):
    """Two classes told apart by a fine detail only: a 1-px checkerboard of +-40 grey levels, or flat, around the
    same random grey (40..170), so that both have the same mean brightness and brightness keeps the detail."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    board = np.where((yy + xx) % 2 == 0, 40, -40)
    for split, count in zip(('train', 'test'), per_class):
        for name in ('flat', 'texture'):
            (root / split / name).mkdir(parents=True)
            for j in range(count):
                img = np.full((32, 32), rng.integers(40, 171)) + (board if name == 'texture' else 0)
                Image.fromarray(img.astype(np.uint8)).save(root / split / name / f'{j}.png')
    return root


@pytest.fixture(scope='module')
def fine(tmp_path_factory):
    """The fine-detail task through tools/compare.py as a cluster runs it: --print-commands, each printed command,
    then --collect. Returns ``(OUT, args, printed lines)``."""
    root = tmp_path_factory.mktemp('fine')
    out = root / 'out'
    args = ['--data', str(write_fine_detail(root / 'data')), '--out', str(out), '--methods', 'ce', '--seeds', '0',
            '--init', 'scratch', *[a for a in NO_INIT if a != '--no-robustness'], '--epochs', '3', '--lr', '0.05',
            '--robustness-images', '0']
    lines = [line for line in compare(*args, '--print-commands').stdout.splitlines() if line.startswith('python ')]
    for line in lines:
        run_tool(*line.split()[1:])
    compare(*args, '--collect')
    return out, args, lines


def test_a_fine_detail_is_lost_under_blur_not_under_brightness(fine):
    out, _, lines = fine
    assert lines[-1] == (f'python tools/test.py {out}/configs/ce_seed0_corrupt.py {out}/runs/ce_seed0/epoch_3.pth '
                         f'--work-dir {out}/runs/ce_seed0/corrupt')
    ce = json.loads((out / 'results.json').read_text())['robustness']['per_method']['ce']
    assert ce['clean']['mean'] >= 90, 'the model did not learn the task: the test cannot tell anything'

    def drop(corruption):
        return ce['clean']['mean'] - np.mean([ce['sets'][f'{corruption}-{s}']['mean'] for s in (1, 3, 5)])
    assert drop('gaussian_blur') > drop('brightness') + 15, (drop('gaussian_blur'), drop('brightness'))


def test_no_robustness_turns_it_off_on_the_same_folder(fine):
    out, args, _ = fine
    compare(*args, '--collect', '--no-robustness')  # not a setting: the folder is not refused
    results = json.loads((out / 'results.json').read_text())
    assert results['robustness'] is None and 'robustness.png' not in results['plots']
    report = (out / 'report.md').read_text()
    assert '## Robustness' not in report and 'Under common corruptions' not in results['verdict']
    assert 'ce_seed0_corrupt.py' not in report


@pytest.fixture(scope='module')
def scratch(both):
    """The from-scratch comparison of conftest's shared comparison (run with the evaluation under corruptions)."""
    out, proc = both
    return out / 'starts' / 'scratch', proc


def test_every_method_read_byte_identical_inputs(scratch, tmp_path):
    out, _ = scratch
    results = json.loads((out / 'results.json').read_text())
    folder = results['robustness']['folder']
    with open(os.path.join(folder, 'manifest.json')) as f:
        manifest = json.load(f)
    expected = load_digests(os.path.join(folder, 'digests.npz'))
    assert len(expected) == 15 * 12  # 5 corruptions x 3 severities x the 12 test images
    for run in results['runs']:  # what each run's evaluation read, digest by digest
        assert load_digests(os.path.join(run['work_dir'], 'corrupt_inputs.npz')).tolist() == expected.tolist()
    from mixskd_mm.datasets.imagenet import ImageNet  # the files decode to those digests
    files = ImageNet(folder, split='', ann_file='list.txt', classes=manifest['classes'])
    assert [image_digest(files.load_image(i)) for i in range(len(files))] == expected.tolist()
    for entry in manifest['sets']:
        assert hashlib.sha256(expected[entry['start']:entry['stop']].tobytes()).hexdigest() == entry['sha256']
    data = tmp_path / 'data'  # written again from the same lists: the same bytes
    data.mkdir()
    for name in ('classes.txt', 'test.txt'):
        shutil.copy(os.path.join(os.path.dirname(os.path.dirname(folder)), name), data / name)
    again = write_corrupted(str(data), 'test', manifest['img_size'], 0)
    assert again.sets == manifest['sets'] and again.indices == manifest['indices']


def test_a_run_that_read_other_pixels_is_refused(scratch, tmp_path):
    out, _ = scratch
    folder = json.loads((out / 'results.json').read_text())['robustness']['folder']
    with open(os.path.join(folder, 'manifest.json')) as f:
        data = CorruptedData(folder, json.load(f))
    work = tmp_path / 'runs' / 'ce_seed0'
    shutil.copytree(out / 'runs' / 'ce_seed0', work)
    run = PretrainRun(RunKey('ce', Variant(), 0), str(work), 1, True)
    assert read_evaluation(CorruptionEval(run, data), 'test')['sets']  # as written: accepted
    digests = load_digests(str(work / 'corrupt_inputs.npz'))
    digests[20] += 1  # one image of the second set read differently
    np.savez(work / 'corrupt_inputs.npz', digests=digests)
    with pytest.raises(InputsDiffer, match='gaussian_noise-3'):
        read_evaluation(CorruptionEval(run, data), 'test')


def test_report_json_and_verdict_are_the_runs_files_recomputed(scratch):
    out, proc = scratch
    results = json.loads((out / 'results.json').read_text())
    rob = results['robustness']
    with open(os.path.join(rob['folder'], 'manifest.json')) as f:
        index = np.array(json.load(f)['indices'])
    per_seed = {}
    for run in results['runs']:
        scores = load_scores(os.path.join(run['work_dir'], 'corrupt_scores.npz'))
        clean = load_scores(os.path.join(run['work_dir'], 'test_scores.npz'))
        top1 = {f'{s["corruption"]}-{s["severity"]}': 100 * np.mean(
            scores['probs'][s['start']:s['stop']].argmax(1) == scores['labels'][s['start']:s['stop']])
            for s in rob['sets']}
        clean_top1 = 100 * np.mean(clean['probs'][index].argmax(1) == clean['labels'][index])
        mine = rob['runs'][run['name']]
        assert mine['sets'] == pytest.approx(top1) and mine['clean'] == pytest.approx(clean_top1)
        assert mine['drop'] == pytest.approx(clean_top1 - np.mean(list(top1.values())))
        per_seed.setdefault(run['method'], {})[run['seed']] = mine
    for method, row in rob['per_method'].items():
        assert row['mean']['mean'] == pytest.approx(np.mean([per_seed[method][s]['mean'] for s in (0, 1)]))
        assert row['drop']['std'] == pytest.approx(np.std([per_seed[method][s]['drop'] for s in (0, 1)], ddof=1))
    best_cheap = max(('mixup', 'cutmix'), key=lambda m: results['summary'][m]['val_top1']['mean'])
    assert {(p['method'], p['baseline']) for p in rob['comparisons']} == {
        (m, b) for m in ('mixskd', 'mixskd-conv') for b in ('ce', best_cheap)}
    for p in rob['comparisons']:
        for key in ('mean', 'drop'):
            diffs = [per_seed[p['method']][s][key] - per_seed[p['baseline']][s][key] for s in (0, 1)]
            assert p[key]['mean'] == pytest.approx(np.mean(diffs))
            assert p[key]['half_width'] == pytest.approx(12.7062047 * np.std(diffs, ddof=1) / np.sqrt(2), rel=1e-6)
    report = (out / 'report.md').read_text()
    mixskd = rob['per_method']['mixskd']
    sentence = (f'MixSKD keeps {mixskd["mean"]["mean"]:.1f} % top-1 (a drop of {mixskd["drop"]["mean"]:.1f} points '
                f'from clean)')
    assert sentence in results['verdict'] and sentence in report and sentence in proc.stdout
    assert '## Robustness to common corruptions' in report and 'robustness.png' in results['plots']
    ce = rob['per_method']['ce']
    assert f'| CE | {ce["clean"]["mean"]:.2f} ± {ce["clean"]["std"]:.2f} | {ce["mean"]["mean"]:.2f} ± ' in report
