"""`tools/demo.py --quick` runs the real tools end to end (pretraining, export, detection and segmentation
fine-tunes) and writes its table, report, results and plots; the demo's helpers are checked on their own."""
import importlib.util
import json
import os
import struct

import pytest
from _helpers import ROOT, run_tool
from mmengine.config import Config

PLOTS = ('loss_curves.png', 'results.png', 'predictions_detection.png', 'predictions_segmentation.png')


def _demo_module():
    spec = importlib.util.spec_from_file_location('mixskd_demo', os.path.join(ROOT, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_size(path):
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG'
    return struct.unpack('>II', head[16:24])


@pytest.fixture(scope='module')
def quick_demo(tmp_path_factory, fake_fashion_mnist):
    out = tmp_path_factory.mktemp('demo') / 'out'
    proc = run_tool('tools/demo.py', '--quick', '--out', str(out), '--data-root', fake_fashion_mnist,
                    '--per-class', '2', timeout=900)
    return out, proc


def test_quick_demo_writes_table_report_results_and_plots(quick_demo):
    out, proc = quick_demo
    results = json.loads((out / 'results.json').read_text())
    assert set(results['summary']) == {'CE', 'MixSKD'}
    for row in results['summary'].values():
        assert 0 <= row['top1_mean'] <= 100 and row['seeds'] == 1
        assert 0 <= row['box_mAP'] <= 100 and 0 <= row['mIoU'] <= 100
    assert results['data']['dataset']['name'] == 'Fashion-MNIST'
    assert {t['task'] for t in results['transfer']} == {'detection', 'segmentation'}
    assert {'total', 'pretraining (all runs, wall)', 'transfer (all fine-tunes, wall)'} <= set(results['timings'])
    report = (out / 'report.md').read_text()
    assert '| CE |' in report and '| MixSKD |' in report and 'Fashion-MNIST' in report
    assert '| backbone pretraining | top-1 (%) mean ± std | box mAP (%) | mIoU (%)' in proc.stdout  # the table
    for run in results['runs']:
        assert os.path.isfile(run['backbone']) and run['backbone'].startswith(str(out))
    for name in PLOTS:
        width, height = _png_size(out / name)
        assert width > 200 and height > 200


def test_quick_demo_drives_the_real_tools(quick_demo):
    out, _ = quick_demo
    logs = {name: (out / 'logs' / name).read_text() for name in os.listdir(out / 'logs')}
    assert logs['pretrain_mixskd_seed0.log'].startswith('$ python tools/train.py configs/mixskd/mixskd_test-resnet')
    assert logs['export_ce_seed0.log'].startswith('$ python tools/export_backbone.py')
    assert logs['detection_mixskd.log'].startswith('$ python tools/train.py configs/demo/retinanet_')
    assert 'mixskd_seed0.safetensors: 90/90 tensors matched' in logs['segmentation_mixskd.log']
    assert 'ce_seed0.safetensors: 90/90 tensors matched' in logs['detection_ce.log']


def test_summary_report_and_schedule_helpers():
    demo = _demo_module()
    runs = [dict(method=m, seed=s, top1=v, top5=99.0, first_loss=2.0, last_loss=0.5, train_seconds=10.0)
            for m, s, v in (('CE', 0, 80.0), ('CE', 1, 82.0), ('MixSKD', 0, 83.0), ('MixSKD', 1, 85.0))]
    transfers = [dict(task=t, method=m, metric='x', value=v, seconds=5.0)
                 for t, m, v in (('detection', 'CE', 10.0), ('detection', 'MixSKD', 12.0),
                                 ('segmentation', 'CE', 40.0), ('segmentation', 'MixSKD', 41.0))]
    table = demo.summarise(runs, transfers)
    assert table['CE']['top1_mean'] == 81.0 and table['CE']['top1_std'] == pytest.approx(2 ** 0.5)  # sample std
    assert table['MixSKD']['box_mAP'] == 12.0 and table['MixSKD']['mIoU'] == 41.0
    args = demo.parse_args(['--out', '/tmp/x'])
    assert (args.seeds, args.epochs, args.per_class, args.det_iters, args.seg_iters) == ([0, 1], 10, 500, 300, 300)
    args.num_classes = 10
    data = dict(dataset=dict(name='Fashion-MNIST', test_images=10000), counts=dict(
        train=dict(images=400, objects=1200), val=dict(images=100, objects=300)), image_size=128,
        classes=['a', 'b'])
    text = demo.report_text(table, runs, transfers, data, dict(total=60.0), args)
    assert '| MixSKD | 84.00 ± 1.41 (n=2) | 12.0 | 41.00 | 20 |' in text
    assert 'top-1 +3.00 points (seed mean, MixSKD above CE)' in text
    opts = demo.schedule_options('detection', 120)
    assert 'train_cfg.max_iters=120' in opts and 'param_scheduler.0.end=20' in opts
    assert 'param_scheduler.1.T_max=100' in opts
    assert not any('T_max' in o for o in demo.schedule_options('segmentation', 120))


def test_leaf_config_carries_digit_class_names(tmp_path):
    demo = _demo_module()
    path = demo.leaf_with_classes(demo.TRANSFER_CONFIGS['segmentation'], ['background', '0', '1', '5', '8', '9'],
                                  str(tmp_path))
    cfg = Config.fromfile(path)
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.metainfo.classes == ('background', '0', '1', '5', '8', '9')
        assert len(cfg[f'{split}_dataloader'].dataset.metainfo.palette) == 6  # kept from the base config
    assert cfg.model.backbone.model_name == 'test_resnet'
