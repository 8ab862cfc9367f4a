"""tools/train.py then tools/test.py on the checkpoint it wrote, as the README shows."""
from _helpers import loader_opts, run_tool

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
