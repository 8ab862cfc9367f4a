"""``tools/dist_train.sh`` / ``tools/dist_test.sh``: torchrun + MMEngine's ``pytorch`` launcher, two processes on
the CPU (gloo), with the real Runner and DDP wrapper."""
import glob
import json
import os
import socket
import subprocess
import sys

from _helpers import ROOT, loader_opts, tool_env

CONFIG = 'configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _launch(script, *args):
    env = tool_env(PYTHON=sys.executable, PORT=str(_free_port()), OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', script, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f'{script} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout + proc.stderr


def test_two_processes_train_split_the_data_and_evaluate(tmp_path, fake_fashion_mnist):
    work = tmp_path / 'work'
    _launch('tools/dist_train.sh', CONFIG, '2', '--work-dir', str(work), '--cfg-options', 'train_cfg.max_epochs=1',
            'param_scheduler=[]', 'default_hooks.logger.interval=1', 'train_dataloader.dataset.num_per_class=None',
            *loader_opts(fake_fashion_mnist, batch=4))
    log = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert 'Distributed training: True' in log and "type='MMDistributedDataParallel'" in log
    iters = [json.loads(line)['iter'] for line in open(glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))[0])
             if '"loss"' in line]
    assert iters == [1, 2, 3, 4, 5]  # 40 images, 4 per process and step, 2 processes: the sampler split the data
    assert os.path.isfile(work / 'epoch_1.pth') and os.path.isfile(work / 'backbone.safetensors')
    out = _launch('tools/dist_test.sh', CONFIG, str(work / 'epoch_1.pth'), '2', '--work-dir', str(tmp_path / 'test'),
                  '--cfg-options', *loader_opts(fake_fashion_mnist, ('test',), batch=4))
    assert 'Epoch(test)' in out and 'accuracy/top1' in out
