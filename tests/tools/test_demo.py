"""`tools/demo.py --quick` is tools/compare.py on the embedded data: CE, Mixup, CutMix, MixSKD and CE at equal
compute, then detection and segmentation fine-tunes on composed scenes, a report, results, plots and
prediction plots."""
import importlib.util
import json
import os
import struct

import pytest
from _helpers import ROOT, run_tool

METHODS = ['ce', 'mixup', 'cutmix', 'mixskd', 'ce-matched']


def _png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG'
    return struct.unpack('>II', head[16:24])


@pytest.fixture(scope='module')
def quick_demo(tmp_path_factory, fake_fashion_mnist):
    out = tmp_path_factory.mktemp('demo') / 'out'
    proc = run_tool('tools/demo.py', '--quick', '--out', str(out), '--data-root', fake_fashion_mnist, '--no-progress',
                    timeout=1200)
    return out, proc


def test_quick_demo_compares_five_methods_and_fine_tunes_each(quick_demo):
    out, proc = quick_demo
    results = json.loads((out / 'results.json').read_text())
    assert list(results['summary']) == METHODS and results['split'] == 'test'
    assert results['data']['name'] == 'Fashion-MNIST' and results['data']['splits']['train']['images'] == 20
    assert results['data']['splits']['test']['images'] == 20  # the fixture's whole test split
    assert {(t['task'], t['method']) for t in results['transfers']} == {
        (task, m) for task in ('detection', 'segmentation') for m in METHODS}
    assert set(results['transfer']) == {'detection', 'segmentation'}
    for t in results['transfers']:
        assert t['seed'] == 0 and t['metric'] in ('coco/bbox_mAP', 'mIoU')
    report = (out / 'report.md').read_text()
    assert '## Verdict' in report and '## Transfer: detection (coco/bbox_mAP)' in report
    assert 'MixSKD' in proc.stdout and '[demo] done in' in proc.stdout
    for name in results['plots'] + ['predictions_detection.png', 'predictions_segmentation.png']:
        width, height = _png_size(out / name)
        assert width > 200 and height > 200


def test_quick_demo_drives_the_real_tools(quick_demo):
    out, _ = quick_demo
    logs = {name: (out / 'logs' / name).read_text() for name in os.listdir(out / 'logs')}
    assert logs['mixskd_seed0.log'].startswith(f'$ python tools/train.py {out}/configs/mixskd_seed0.py')
    assert logs['mixskd_seed0_test.log'].startswith('$ python tools/test.py')
    for method in METHODS:
        assert 'backbone.safetensors: 90/90 tensors matched' in logs[f'det_{method}_seed0.log']
        assert 'backbone.safetensors: 90/90 tensors matched' in logs[f'seg_{method}_seed0.log']


def test_demo_defaults():
    spec = importlib.util.spec_from_file_location('mixskd_demo', os.path.join(ROOT, 'tools', 'demo.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    args = demo.parse_args(['--out', '/tmp/x'])
    assert args.seeds == [0, 1] and args.methods == 'ce,mixup,cutmix,mixskd,ce-matched'
    argv = demo.compare_argv(args, '/tmp/scenes')
    assert argv[argv.index('--tune') + 1] == '2'  # a small tuning budget
    assert '--tune' not in demo.compare_argv(demo.parse_args(['--quick']), '/tmp/scenes')
    assert argv[argv.index('--data') + 1] == 'fashion-mnist' and argv[argv.index('--det-data') + 1] == '/tmp/scenes'
    assert argv[argv.index('--channels-last') + 1] == 'on'  # measured faster for test_resnet at 28 px
    assert argv[argv.index('--init') + 1] == 'scratch'  # the embedded data have no pretrained source
