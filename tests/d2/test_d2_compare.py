"""`tools/compare.py --det-config` with a user's Detectron2 config: recognised by its content, each pretrained backbone
put in it (our FPN builder, the backbone file, RGB with its mean / std, no MODEL.WEIGHTS), fine-tuned by
tools/d2_train.py, and Detectron2's own box AP in the report."""
import json
import os.path as osp
import re

import pytest
import torch

pytest.importorskip('detectron2', reason='Detectron2 is not installed (`make setup` installs it unless '
                                          'MIXSKD_SKIP_DETECTRON2 is set)')
import yaml
from _compare_data import TINY, write_class_folders
from _d2 import tiny_opts
from _fake_detection import write_coco_detection
from _helpers import run_tool
from detectron2 import model_zoo

from mixskd_mm.compare.transfer.d2 import config_kind, write_d2_leaf

#: the options tests/_d2.py sets that the comparison's leaf sets itself, or the user's config names
LEAF_KEYS = ('MODEL.TIMM.NAME', 'MODEL.PIXEL_MEAN', 'MODEL.PIXEL_STD', 'OUTPUT_DIR', 'DATASETS.TRAIN', 'DATASETS.TEST')


def _det_options():
    """tests/_d2.py's tiny Detectron2 options (CPU, 64-96 px, 2 iterations) as ``--det-options KEY=VALUE``."""
    opts = tiny_opts(('unused', 'unused'), 'unused')
    pairs = zip(opts[::2], opts[1::2])
    return [f'{k}={v}' for k, v in pairs if k not in LEAF_KEYS]


def _user_yaml(path):
    """A user's Faster R-CNN R50-FPN: Detectron2's model-zoo file as its base (BGR, Caffe mean, R-50.pkl)."""
    base = model_zoo.get_config_file('COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml')
    path.write_text(f'_BASE_: "{base}"\nDATASETS:\n  TRAIN: ("coco_2017_train",)\n  TEST: ("coco_2017_val",)\n')
    return path


def test_a_detectron2_config_is_recognised_by_its_content(tmp_path):
    yacs = _user_yaml(tmp_path / 'my_d2.yaml')
    (tmp_path / 'lazy.py').write_text('from detectron2 import model_zoo\nmodel = 1\n')
    (tmp_path / 'mmdet.py').write_text("_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py']\n")
    (tmp_path / 'mm.yaml').write_text('model:\n  type: RetinaNet\n')
    kinds = [config_kind(str(p)) for p in (yacs, tmp_path / 'lazy.py', tmp_path / 'mmdet.py', tmp_path / 'mm.yaml')]
    assert kinds == ['yacs', 'lazy', None, None]


def test_lazy_config_leaf_puts_the_backbone_in_and_builds(tmp_path):
    from detectron2.config import LazyConfig, instantiate
    from safetensors.torch import save_file

    from mixskd_mm.detectron2 import TimmBackbone, check_lazy_config
    from mixskd_mm.models.backbones import TimmStageBackbone
    torch.manual_seed(0)
    body = TimmStageBackbone('test_resnet')
    save_file({k: v.contiguous() for k, v in body.state_dict().items()}, str(tmp_path / 'b.safetensors'),
              metadata=dict(model_name='test_resnet'))
    user = tmp_path / 'user.py'
    user.write_text('from detectron2 import model_zoo\n'
                    "model = model_zoo.get_config('common/models/retinanet.py').model\n"
                    "dataloader = model_zoo.get_config('common/data/coco.py').dataloader\n"
                    "train = model_zoo.get_config('common/train.py').train\n")
    leaf = tmp_path / 'leaf.py'
    info = write_d2_leaf(str(user), str(tmp_path / 'b.safetensors'), str(leaf), str(tmp_path / 'work'))
    assert info['args'] == ['tools/d2_train.py', '--config-file', str(leaf)] and info['metric'] == 'bbox/AP'
    cfg = LazyConfig.load(str(leaf))
    assert cfg.train.output_dir == str(tmp_path / 'work') and cfg.train.init_checkpoint == ''
    model = instantiate(cfg.model)
    assert isinstance(model.backbone.bottom_up, TimmBackbone)
    check_lazy_config(cfg, model)  # RGB with the backbone's mean / std: not refused


def test_compare_fine_tunes_a_users_detectron2_yaml_and_reports_its_box_ap(tmp_path):
    data = write_class_folders(tmp_path / 'data', per_class=(8, 2))
    write_coco_detection(tmp_path / 'datasets' / 'coco')  # where Detectron2's builtin coco_2017_* names read
    user, out = _user_yaml(tmp_path / 'my_d2.yaml'), tmp_path / 'out'
    proc = run_tool('tools/compare.py', '--data', str(data), '--out', str(out), '--methods', 'ce,mixskd',
                    '--seeds', '0', *TINY, '--det-config', str(user), '--det-options', *_det_options(),
                    timeout=1500, env=dict(DETECTRON2_DATASETS=str(tmp_path / 'datasets')))
    results = json.loads((out / 'results.json').read_text())
    transfers = results['transfers']
    assert sorted(t['method'] for t in transfers) == ['ce', 'mixskd']
    for t in transfers:
        assert t['backend'] == 'detectron2' and t['metric'] == 'Detectron2 bbox/AP'
        assert t['command'].startswith('python tools/d2_train.py --config-file ')
        backbone = results['runs'][[r['method'] for r in results['runs']].index(t['method'])]['backbone']
        log = (out / 'logs' / f'{osp.basename(t["work_dir"])}.log').read_text()
        found = re.search(rf'loaded {re.escape(backbone)}: (\d+)/(\d+) tensors matched', log)
        assert found and found[1] == found[2], log[-3000:]
        with open(osp.join(t['work_dir'], 'metrics.json')) as f:
            ap = [r['bbox/AP'] for r in map(json.loads, f) if 'bbox/AP' in r]
        assert ap and t['value'] == pytest.approx(ap[-1])  # Detectron2's own number, already in percent
        leaf = yaml.safe_load(open(t['config']))
        assert leaf['MODEL']['BACKBONE']['NAME'] == 'build_timm_fpn_backbone' and leaf['INPUT']['FORMAT'] == 'RGB'
        assert leaf['MODEL']['TIMM']['WEIGHTS'] == backbone and leaf['MODEL']['WEIGHTS'] == ''
    assert results['transfer']['detection']['metric'] == 'Detectron2 bbox/AP'
    report = (out / 'report.md').read_text()
    assert '## Transfer: detection (Detectron2 bbox/AP)' in report
    section = report.split('## Transfer: detection')[1]
    assert '| MixSKD |' in section and '| CE |' in section and 'MixSKD' in proc.stdout


def test_detectron2_ap_is_read_from_metrics_json_in_percent(tmp_path):
    from mixskd_mm.compare.study import RunKey
    from mixskd_mm.compare.transfer.common import BACKENDS, TASKS
    from mixskd_mm.compare.transfer.runs import FineTune, transfer_value
    d2 = FineTune(TASKS['det'], RunKey('ce', 'default', 0), str(tmp_path), 'leaf.yaml', 'bbox/AP', (), (),
                  BACKENDS['detectron2'])
    assert transfer_value(d2) is None  # nothing written, not done
    (tmp_path / 'metrics.json').write_text('{"iteration": 1, "total_loss": 2.0}\n{"iteration": 1, "bbox/AP": 12.5}\n')
    assert transfer_value(d2) == 12.5 and d2.metric_label == 'Detectron2 bbox/AP'
