"""Every config of configs/detectron2 builds with the timm backbone, trains 2 iterations on a tiny COCO registered
with ``register_coco_instances`` and is scored by ``COCOEvaluator``; a checkpoint resumes; ``--eval-only`` scores it."""
import argparse
import glob
import json
import os

import pytest
import torch

pytest.importorskip('detectron2', reason='Detectron2 is not installed (`make setup` installs it unless '
                                          'MIXSKD_SKIP_DETECTRON2 is set)')
from _d2 import register_tiny_coco, tiny_lazy, tiny_opts
from _helpers import ROOT
from detectron2.config import LazyConfig
from detectron2.engine import default_argument_parser

from mixskd_mm.detectron2.train import Trainer, load_yacs_config, main, train_lazy

CONFIG_DIR = os.path.join(ROOT, 'configs', 'detectron2')
YACS = sorted(glob.glob(os.path.join(CONFIG_DIR, '*.yaml')))
LAZY = os.path.join(CONFIG_DIR, 'faster_rcnn_timm_r50_fpn_1x_coco.py')


@pytest.fixture(scope='module')
def tiny_coco(tmp_path_factory):
    return register_tiny_coco(tmp_path_factory.getbasetemp() / 'd2_tiny_coco')


def _iterations(out):
    """The iterations ``metrics.json`` logged (Detectron2's DefaultTrainer: every 20th and the last)."""
    with open(os.path.join(out, 'metrics.json')) as f:
        return [r['iteration'] for r in map(json.loads, f) if 'total_loss' in r]


def test_the_folder_has_the_configs_the_readme_names():
    names = sorted(os.path.basename(p) for p in YACS)
    assert names == ['cascade_rcnn_timm_r50_fpn_1x_coco.yaml', 'faster_rcnn_timm_r50_fpn_1x_coco.yaml',
                     'mask_rcnn_timm_r50_fpn_1x_coco.yaml', 'retinanet_timm_r50_fpn_1x_coco.yaml']
    readme = open(os.path.join(CONFIG_DIR, 'README.md')).read()
    assert all(n in readme for n in names + [os.path.basename(LAZY)])


@pytest.mark.parametrize('config', YACS, ids=os.path.basename)
def test_yacs_config_trains_two_iterations_and_coco_evaluates(config, tiny_coco, tmp_path):
    args = default_argument_parser().parse_args(['--config-file', config, *tiny_opts(tiny_coco, tmp_path)])
    results = main(args)
    assert _iterations(tmp_path) == [1]  # iterations 0 and 1, the last one logged
    tasks = {'bbox', 'segm'} if 'mask_rcnn' in config else {'bbox'}
    assert set(results) == tasks and all(isinstance(results[t]['AP'], float) for t in tasks)
    saved = torch.load(tmp_path / 'model_final.pth', map_location='cpu', weights_only=True)['model']
    assert any(k.startswith('backbone.bottom_up.body.layer1.') for k in saved)  # the timm network was trained
    used = (tmp_path / 'config.yaml').read_text()
    assert 'build_timm' in used and 'FORMAT: RGB' in used


def test_lazy_config_trains_two_iterations_and_coco_evaluates(tiny_coco, tmp_path):
    cfg = tiny_lazy(LazyConfig.load(LAZY), tiny_coco, tmp_path)
    args = argparse.Namespace(config_file=LAZY, opts=[], eval_only=False, resume=False)
    results = train_lazy(args, cfg)
    assert isinstance(results['bbox']['AP'], float)
    assert _iterations(tmp_path) == [0, 1]
    saved = torch.load(tmp_path / 'model_final.pth', map_location='cpu', weights_only=True)['model']
    assert any(k.startswith('backbone.bottom_up.body.layer1.') for k in saved)


def test_checkpoint_resumes_and_eval_only_scores_it(tiny_coco, tmp_path):
    config = os.path.join(CONFIG_DIR, 'faster_rcnn_timm_r50_fpn_1x_coco.yaml')
    main(default_argument_parser().parse_args(['--config-file', config, *tiny_opts(tiny_coco, tmp_path)]))
    saved = torch.load(tmp_path / 'model_final.pth', map_location='cpu', weights_only=True)
    trainer = Trainer(load_yacs_config(config, tiny_opts(tiny_coco, tmp_path, iters=3)))
    trainer.resume_or_load(resume=True)
    assert trainer.start_iter == 2  # after the 2 saved iterations
    key = 'backbone.bottom_up.body.layer4.0.conv1.weight'
    assert torch.equal(trainer.model.state_dict()[key], saved['model'][key])
    trainer.train()
    assert _iterations(tmp_path) == [1, 2]  # the first run's last iteration, then the resumed one
    args = default_argument_parser().parse_args(
        ['--config-file', config, '--eval-only', *tiny_opts(tiny_coco, tmp_path / 'eval'),
         'MODEL.WEIGHTS', str(tmp_path / 'model_final.pth')])
    assert isinstance(main(args)['bbox']['AP'], float)


def test_the_command_line_trains_through_launch_and_a_bad_config_ends_with_one_error_line(tiny_coco, tmp_path):
    from mixskd_mm.cli.d2_train import cli
    config = os.path.join(CONFIG_DIR, 'retinanet_timm_r50_fpn_1x_coco.yaml')
    cli(['--config-file', config, '--num-gpus', '1', *tiny_opts(tiny_coco, tmp_path)])  # Detectron2's launch
    assert _iterations(tmp_path) == [1] and (tmp_path / 'model_final.pth').is_file()
    with pytest.raises(SystemExit, match=r"^error: config file not found: 'nope.yaml'"):
        cli(['--config-file', 'nope.yaml'])
    with pytest.raises(SystemExit, match=r'^error: the config feeds the timm backbone .*INPUT.FORMAT RGB'):
        cli(['--config-file', config, *tiny_opts(tiny_coco, tmp_path / 'bgr'), 'INPUT.FORMAT', 'BGR'])
