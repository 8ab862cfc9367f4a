"""Where each model looks, in tools/compare.py: confusion matrices recomputed from the runs' score files, the images
chosen by the documented rule (disagreements first), and the Grad-CAM figure with one row per method whose
predictions are the tested models' own. The end-to-end tests read conftest's shared comparison (its scratch half)."""
import json
import os

import numpy as np
import pytest
from _compare_data import png_size

from mixskd_mm.compare.looks import choose_images, confusion, largest_changes, looks_section
from mixskd_mm.compare.looks_plots import CAM_DPI, CAM_INCHES, CAM_MARGINS
from mixskd_mm.evaluation.metrics.calibration import load_scores

# reads the session comparison: keep the module on the compare tests' pytest-xdist worker (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group('compare_full')


def test_the_rule_takes_disagreements_first_then_each_class_in_turn():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    same = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    other = same.copy()
    other[[4, 6, 7]] = 0  # the methods disagree on images 4, 6 and 7
    chosen = choose_images(dict(ce=same, mixskd=other), labels, 5)
    assert chosen == [(4, 'disagree'), (6, 'disagree'), (7, 'disagree'), (0, 'class'), (3, 'class')]
    assert choose_images(dict(ce=same, mixskd=other), labels, 4)[:2] == [(4, 'disagree'), (6, 'disagree')]
    assert choose_images(dict(ce=same, mixskd=same), labels, 4) == [(0, 'class'), (3, 'class'), (5, 'class'),
                                                                     (1, 'class')]
    assert len(choose_images(dict(ce=same), labels, 20)) == 8  # no more than the split holds


def test_confusion_counts_true_rows_and_predicted_columns():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    assert confusion(probs, np.array([0, 0, 1, 1]), 3).tolist() == [[1, 0, 1], [1, 1, 0], [0, 0, 0]]
    ce, other = np.array([[3.0, 1.0], [2.0, 4.0]]), np.array([[3.5, 0.5], [0.0, 6.0]])
    assert largest_changes(ce, other, ['a', 'b']) == [
        dict(true='b', predicted='a', ce=2.0, method=0.0, change=-2.0),
        dict(true='a', predicted='b', ce=1.0, method=0.5, change=-0.5)]


def test_the_section_without_maps_and_with_maps_too_coarse_to_show_anything():
    lines, sentence = looks_section(dict(split='val', changes=dict(mixskd=[]), cam=None))  # --cam-images 0
    assert 'confusion.png' in '\n'.join(lines) and 'Grad-CAM' not in '\n'.join(lines) and sentence == ''
    image = dict(index=0, path='/d/cat/0.png', label='cat', reason='class', predictions=dict(ce=dict(label='dog')))
    cam = dict(layer='backbone.layer4', images=[image], plots=['cam.png'], disagreements=0, split_images=1,
               runs=dict(ce='ce_seed0'), cells=[[1, 1]])
    text = '\n'.join(looks_section(dict(split='test', changes={}, cam=cam))[0])
    assert 'only 1x1 cells' in text and '| 0: `cat/0.png` | cat | class order | dog |' in text


@pytest.fixture(scope='module')
def looks(both):
    """``(results.json, OUT)`` of the from-scratch half of conftest's comparison."""
    out = both[0] / 'starts' / 'scratch'
    return json.loads((out / 'results.json').read_text()), out


def _scores(results, method):
    """The score files of a method's summary runs, by seed."""
    runs = sorted((r for r in results['runs'] if r['name'] in results['summary'][method]['runs']),
                  key=lambda r: r['seed'])
    return [load_scores(os.path.join(r['work_dir'], 'test_scores.npz')) for r in runs]


def test_confusion_matrices_are_the_score_files_mean_counts(looks):
    results, _ = looks
    got = results['looks']
    assert got['split'] == 'test' and list(got['confusion']) == list(results['summary'])
    expected = {}
    for method in results['summary']:
        counts = []
        for s in _scores(results, method):
            matrix = np.zeros((3, 3))
            for label, predicted in zip(s['labels'], s['probs'].argmax(1)):
                matrix[label, predicted] += 1
            counts.append(matrix)
        expected[method] = np.mean(counts, axis=0)
        assert np.allclose(got['confusion'][method]['matrix'], expected[method])
        assert np.isclose(np.sum(got['confusion'][method]['matrix']), 12)  # 12 test images a seed
    assert sorted(got['difference']) == ['mixskd', 'mixskd-conv']
    for method, diff in got['difference'].items():
        assert np.allclose(diff, expected[method] - expected['ce'])


def test_the_figure_has_one_row_per_method_and_the_chosen_images_follow_the_rule(looks):
    results, out = looks
    cam = results['looks']['cam']
    methods = list(results['summary'])
    assert list(cam['runs']) == methods and all(cam['runs'][m] == f'{m}_seed0' for m in methods)
    size = results['settings']['img_size']  # test_resnet's stages: strides 4, 8, 16, 32
    fine = [f'backbone.layer{i + 1}' for i, stride in enumerate((4, 8, 16, 32)) if -(-size // stride) >= 3]
    assert cam['grid'] == [len(methods), 6] and cam['layer'] == fine[-1]  # the deepest stage with 3 cells a side
    width, height = png_size(out / 'cam.png')
    assert (width, height) == (round(CAM_DPI * (CAM_INCHES[0] * 6 + CAM_MARGINS[0])),
                               round(CAM_DPI * (CAM_INCHES[1] * len(methods) + CAM_MARGINS[1])))
    first = {m: _scores(results, m)[0] for m in methods}
    predictions = {m: s['probs'].argmax(1) for m, s in first.items()}
    stacked = np.stack(list(predictions.values()))
    disagree = set(np.flatnonzero((stacked != stacked[0]).any(0)).tolist())
    chosen = [(i['index'], i['reason']) for i in cam['images']]
    assert chosen == choose_images(predictions, first['ce']['labels'], 6)
    assert cam['disagreements'] == len(disagree)
    if disagree:  # the rule shows the images the methods disagree on
        assert chosen[0][1] == 'disagree' and chosen[0][0] == min(disagree)
    assert all(i in disagree for i, reason in chosen if reason == 'disagree')
    for image in cam['images']:  # the deployable models predict what the tested models scored
        assert image['label'] == results['data']['classes'][int(first['ce']['labels'][image['index']])]
        for method, shown in image['predictions'].items():
            assert shown['predicted'] == int(predictions[method][image['index']])
    assert cam['agrees'] is True


def test_the_report_and_verdict_carry_the_section(looks):
    results, out = looks
    report = (out / 'report.md').read_text()
    assert '## Where each model looks' in report and '`cam.png`' in report and '`confusion.png`' in report
    assert 'The methods\' first seeds disagree on' in report
    changes = results['looks']['changes']['mixskd']
    if changes:
        top = changes[0]
        assert f'{top["true"]} predicted as {top["predicted"]} {top["ce"]:.1f} -> {top["method"]:.1f}' \
            in results['verdict']
        assert results['verdict'] in report
    assert 'cam.png' in results['plots'] and 'confusion.png' in results['plots']
