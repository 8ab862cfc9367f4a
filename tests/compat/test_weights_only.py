"""MMEngine 0.10.7 checkpoints load on torch >= 2.6 (weights-only) through the allow-list; nothing else does."""
import glob
import json
import os
import pickle
import subprocess
import sys

import pytest
import torch
from _helpers import loader_opts, run_tool
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.registry import DefaultScope

import mixskd_mm  # noqa: F401  (applies the allow-list)
from mixskd_mm.compat.weights_only import _history_buffer_getattr

CONFIG = 'configs/mixskd/ce_test-resnet_1xb64-10e_fashion-mnist.py'


def _opts(root, epochs):
    opts = [f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1', 'param_scheduler=[]',
            'default_hooks.logger.interval=1', 'train_dataloader.dataset.num_per_class=None']
    return opts + loader_opts(root)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, fake_fashion_mnist):
    work = tmp_path_factory.mktemp('run')
    run_tool('tools/train.py', CONFIG, '--work-dir', str(work), '--cfg-options', *_opts(fake_fashion_mnist, 1))
    return work


def test_runner_checkpoint_needs_the_allow_list(trained):
    ckpt = str(trained / 'epoch_1.pth')
    # without mixskd_mm, torch >= 2.6 refuses mmengine's own checkpoint (the hazard being fixed)
    code = f'import torch; torch.load({ckpt!r}, map_location="cpu")'
    plain = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert plain.returncode != 0 and 'UnpicklingError' in plain.stderr
    state = torch.load(ckpt, map_location='cpu')  # weights_only=True by default on torch >= 2.6
    assert isinstance(state['message_hub']['log_scalars']['train/loss'], HistoryBuffer)


def test_load_checkpoint_and_pretrained_init(trained):
    from mmengine.runner import load_checkpoint

    from mixskd_mm.models.classifiers import ImageClassifier
    ckpt = str(trained / 'epoch_1.pth')
    saved = torch.load(ckpt, map_location='cpu')['state_dict']
    with DefaultScope.overwrite_default_scope('mixskd_mm'):
        backbone = dict(type='TimmStageBackbone', model_name='test_resnet')
        model = ImageClassifier(backbone, num_classes=10)
        load_checkpoint(model, ckpt, map_location='cpu', strict=True)
        torch.testing.assert_close(model.head.fc.weight, saved['head.fc.weight'])
        # mmengine's own Pretrained initialiser (init_cfg) goes through torch.load too
        model2 = ImageClassifier(backbone, num_classes=10, init_cfg=dict(type='Pretrained', checkpoint=ckpt))
        model2.init_weights()
        torch.testing.assert_close(model2.head.fc.weight, saved['head.fc.weight'])


def test_resume_continues_at_the_right_iteration(trained, fake_fashion_mnist):
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', str(trained), '--resume',
                    '--cfg-options', *_opts(fake_fashion_mnist, 2))
    assert 'resumed epoch: 1, iter: 2' in proc.stdout + proc.stderr
    logs = sorted(glob.glob(str(trained / '*' / 'vis_data' / 'scalars.json')))
    resumed = [json.loads(line) for line in open(logs[-1])]
    assert [r['iter'] for r in resumed if 'loss' in r] == [3, 4]
    assert os.path.isfile(trained / 'epoch_2.pth')


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_arbitrary_pickles_are_still_refused(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_restricted_getattr_allows_only_history_buffer_statistics():
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        _history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        _history_buffer_getattr(os, 'system')
