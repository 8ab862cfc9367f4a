"""tools/train.py then tools/test.py on the checkpoint it wrote, as the README shows; a bad path ends either with one
line naming it."""
import os
import re
import runpy

import pytest
import torch
from _helpers import ROOT, loader_opts, run_tool

CONFIG = 'configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py'


def test_train_then_test_a_checkpoint(tmp_path, fake_fashion_mnist):
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', str(tmp_path), '--cfg-options', 'train_cfg.max_epochs=1',
                    'param_scheduler=[]', 'train_dataloader.dataset.num_per_class=None',
                    *loader_opts(fake_fashion_mnist))
    assert 'glibc allocator: pinned' in proc.stdout + proc.stderr  # tools/train.py's default
    proc = run_tool('tools/test.py', CONFIG, str(tmp_path / 'epoch_1.pth'), '--work-dir', str(tmp_path / 'test'),
                    '--cfg-options', *loader_opts(fake_fashion_mnist, ('test',)))
    out = proc.stdout + proc.stderr
    assert 'Epoch(test)' in out and 'accuracy/top1' in out and 'accuracy/self_teacher_top1' in out


def test_missing_config_is_clear(tmp_path):  # --amp on a CPU: tests/engine/test_cpu_bf16_amp.py
    proc = run_tool('tools/train.py', 'configs/nope.py', check=False)
    assert proc.returncode != 0 and "config file not found: 'configs/nope.py'" in proc.stderr


def _tool(name):
    return runpy.run_path(os.path.join(ROOT, 'tools', f'{name}.py'), run_name=name)['main']


def _truncated(path):
    torch.save({'state_dict': {'backbone.conv1.weight': torch.ones(64, 3, 7, 7)}, 'meta': {}}, str(path))
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    return str(path)


def test_train_names_each_bad_file_or_folder_before_the_runner_is_built(tmp_path):
    train = _tool('train')
    common = ['--malloc', 'default', '--work-dir', str(tmp_path / 'work')]  # 'default': this process's allocator
    with pytest.raises(SystemExit, match=rf"^error: config '{tmp_path}' is a folder; expected a config file"):
        train([str(tmp_path), *common])
    ckpt = _truncated(tmp_path / 'epoch_1.pth')
    with pytest.raises(SystemExit, match=r"^error: --resume checkpoint '.*epoch_1\.pth' is truncated or damaged"):
        train([CONFIG, *common, '--resume', ckpt])
    with pytest.raises(SystemExit, match=r"^error: load_from '.*epoch_1\.pth' is truncated or damaged"):
        train([CONFIG, *common, '--cfg-options', f'load_from={ckpt}'])
    weights = tmp_path / 'backbone.safetensors'
    weights.write_text('not weights')
    with pytest.raises(SystemExit, match=r"^error: model\.backbone\.pretrained '.*backbone\.safetensors' cannot be "
                                         r"read as a safetensors file \(Error while deserializing header"):
        train([CONFIG, *common, '--cfg-options', f'model.backbone.pretrained={weights}'])
    with pytest.raises(SystemExit, match=r"^error: work dir '.*backbone\.safetensors': '.*' is a file; expected a "
                                         r"folder"):
        train([CONFIG, '--malloc', 'default', '--work-dir', str(weights)])


def test_test_names_a_checkpoint_that_is_none(tmp_path):
    test = _tool('test')
    common = ['--work-dir', str(tmp_path / 'work')]
    exported = tmp_path / 'backbone.safetensors'
    exported.write_bytes(b'\0' * 16)
    with pytest.raises(SystemExit, match=r"^error: checkpoint '.*backbone\.safetensors' is a safetensors file \("
                                         r"weights alone\); expected a checkpoint written by tools/train\.py"):
        test([CONFIG, str(exported), *common])
    with pytest.raises(SystemExit, match=rf"^error: checkpoint '{tmp_path}' is a folder; expected a checkpoint"):
        test([CONFIG, str(tmp_path), *common])
    with pytest.raises(SystemExit, match=r"^error: config '.*backbone\.safetensors' is not a config file"):
        test([str(exported), CONFIG, *common])
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': {}}, str(ckpt))
    with pytest.raises(SystemExit, match=r"^error: work dir '.*backbone\.safetensors': '.*' is a file"):
        test([CONFIG, str(ckpt), '--work-dir', str(exported)])


def test_a_truncated_checkpoint_ends_test_with_one_line(tmp_path):
    proc = run_tool('tools/test.py', CONFIG, _truncated(tmp_path / 'epoch_1.pth'), '--work-dir', str(tmp_path),
                    check=False)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert re.search(r"^error: checkpoint '.*epoch_1\.pth' is truncated or damaged: a torch checkpoint is a zip "
                     r"archive", proc.stderr, re.M)
