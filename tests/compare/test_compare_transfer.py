"""`tools/compare.py --det-config / --seg-config` on mmdet's and mmseg's own shipped configs (RetinaNet R50-FPN on
COCO, FCN R50-D8 on ADE20K), with tiny datasets in their real layouts: every pretrained backbone is dropped into
the user's config and fine-tuned (here the MixSKD one: the demo's test covers several backbones and their
differences), and the report carries its box mAP and mIoU."""
import json
import os.path as osp

import mmdet
import mmseg
from _compare_data import TINY, compare, write_class_folders
from _transfer_cpu import cpu_options
from _transfer_data import dataset_root
from mmengine.config import Config

RETINANET = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', 'retinanet', 'retinanet_r50_fpn_1x_coco.py')
FCN = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'fcn', 'fcn_r50-d8_4xb4-80k_ade20k-512x512.py')


def _options(config, root):
    """CPU-sized data options for a user's config (what a user would set for their own data)."""
    return [o for o in cpu_options(Config.fromfile(config).to_dict(), root, 'unused')
            if not o.startswith('model.backbone.init_cfg')]


def test_user_det_and_seg_configs_are_fine_tuned_from_the_backbones(tmp_path, tmp_path_factory):
    data = write_class_folders(tmp_path / 'data', per_class=(8, 2))
    out = tmp_path / 'out'
    det = _options(RETINANET, dataset_root(tmp_path_factory, 'coco')) + [
        'train_cfg.max_epochs=1', 'model.test_cfg.score_thr=0.0']  # an untrained head scores below 0.05
    seg = _options(FCN, dataset_root(tmp_path_factory, 'ade20k')) + ['train_cfg.max_iters=2',
                                                                     'train_cfg.val_interval=2']
    proc = compare('--data', str(data), '--out', str(out), '--methods', 'mixskd', '--seeds', '0', *TINY,
                   '--det-config', RETINANET, '--seg-config', FCN, '--det-options', *det, '--seg-options', *seg)
    results = json.loads((out / 'results.json').read_text())
    assert {(t['task'], t['method']) for t in results['transfers']} == {
        (task, 'mixskd') for task in ('detection', 'segmentation')}
    for t in results['transfers']:
        log = (out / 'logs' / f'{osp.basename(t["work_dir"])}.log').read_text()
        backbone = results['runs'][[r['method'] for r in results['runs']].index(t['method'])]['backbone']
        assert f'loaded {backbone}: 90/90 tensors matched' in log
        assert t['metric'] == ('coco/bbox_mAP' if t['task'] == 'detection' else 'mIoU')
        leaf = Config.fromfile(t['config'])
        assert leaf.model.backbone.type == 'mixskd_mm.TimmStageBackbone'
        assert leaf.model.backbone.init_cfg.checkpoint == backbone
    assert results['transfer']['detection']['metric'] == 'coco/bbox_mAP'
    assert set(results['transfer']['segmentation']['per_method']) == {'mixskd'}
    report = (out / 'report.md').read_text()
    assert '## Transfer: detection (coco/bbox_mAP)' in report and '## Transfer: segmentation (mIoU)' in report
    assert '| MixSKD |' in report.split('## Transfer: detection')[1] and 'MixSKD' in proc.stdout
