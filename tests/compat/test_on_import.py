"""What ``import mixskd_mm`` does to the process: the fixes of ``mixskd_mm.compat.ON_IMPORT``, each applied once,
``MIXSKD_MM_NO_PATCHES`` turning them off, and MMDetection's own ``tools/train.py`` resuming a run of our config
because MMEngine's registry imports the package (README, "Fixes to the stack")."""
import glob
import json
import os
import subprocess
import sys

import mmdet
import pytest
import torch
from _helpers import ROOT, loader_opts, run_tool, tool_env
from mmengine.fileio.backends.local_backend import LocalBackend

from mixskd_mm import compat
from mixskd_mm.compat import atomic_writes, weights_only

# A fresh interpreter: MMEngine's own methods and torch's allow-list before the import, and after it.
PROBE = """
import json, torch
from mmengine.fileio.backends.local_backend import LocalBackend
own = dict(put=LocalBackend.put, put_text=LocalBackend.put_text)
allowed = [repr(g) for g in torch.serialization.get_safe_globals()]
import mixskd_mm
print(json.dumps(dict(
    own_methods=[name for name, method in own.items() if getattr(LocalBackend, name) is method],
    allow_list_unchanged=[repr(g) for g in torch.serialization.get_safe_globals()] == allowed,
    applied=list(mixskd_mm.compat.applied()))))
"""
CONFIG = 'configs/mixskd/ce_test-resnet_1xb64-10e_fashion-mnist.py'
MMDET_TRAIN = os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')


def _probe(switch):
    env = tool_env(PYTHONPATH=ROOT)
    env.pop(compat.SWITCH, None)
    if switch is not None:
        env[compat.SWITCH] = switch
    proc = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('switch', [None, '0'])
def test_the_import_applies_every_fix_by_default(switch):
    state = _probe(switch)
    assert state == dict(own_methods=[], allow_list_unchanged=False, applied=['weights_only', 'atomic_writes'])


@pytest.mark.parametrize('switch', ['1', 'all'])
def test_the_switch_leaves_mmengine_and_torch_as_they_are(switch):
    state = _probe(switch)
    assert state == dict(own_methods=['put', 'put_text'], allow_list_unchanged=True, applied=[])


def test_the_switch_names_the_fixes_to_leave_out():
    state = _probe('atomic_writes')
    assert state == dict(own_methods=['put', 'put_text'], allow_list_unchanged=False, applied=['weights_only'])
    with pytest.raises(ValueError, match="unknown fix 'atomic'"):
        compat.switched_off({compat.SWITCH: 'atomic'})


def test_each_fix_is_applied_once_and_undone_exactly():
    own = set(torch.serialization.get_safe_globals())
    ours = set(weights_only.mmengine_checkpoint_globals())
    try:
        assert compat.undo() == () and compat.undo() == ()
        assert LocalBackend.put.__module__ == LocalBackend.put_text.__module__ == LocalBackend.__module__
        assert own - set(torch.serialization.get_safe_globals()) == ours  # exactly the allow-list left
        assert compat.apply() == compat.apply() == ('weights_only', 'atomic_writes')
        assert LocalBackend.put is atomic_writes.put and LocalBackend.put_text is atomic_writes.put_text
        assert set(torch.serialization.get_safe_globals()) == own
        assert compat.apply('weights_only') == ('weights_only', 'atomic_writes')
        assert set(torch.serialization.get_safe_globals()) == own
    finally:
        compat.apply()


def _opts(root, epochs):
    return [f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1', 'param_scheduler=[]',
            'default_hooks.logger.interval=1', 'train_dataloader.dataset.num_per_class=None', *loader_opts(root)]


def test_mmdet_own_train_tool_resumes_our_config_through_the_registry_import(tmp_path, fake_fashion_mnist):
    """MMDetection's ``tools/train.py`` imports nothing of ours: MMEngine's registry imports the package for the
    config's scope, before the Runner loads the checkpoint. With the fixes off, torch refuses the checkpoint."""
    work = str(tmp_path / 'work')
    path = dict(PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))  # this checkout's package
    run_tool(MMDET_TRAIN, CONFIG, '--work-dir', work, '--cfg-options', *_opts(fake_fashion_mnist, 1), env=path)
    assert os.path.isfile(os.path.join(work, 'epoch_1.pth'))
    args = (MMDET_TRAIN, CONFIG, '--work-dir', work, '--resume', '--cfg-options', *_opts(fake_fashion_mnist, 2))
    off = run_tool(*args, check=False, env=dict(path, **{compat.SWITCH: '1'}))
    assert off.returncode != 0 and 'UnpicklingError' in off.stderr
    resumed = run_tool(*args, env=path)
    out = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 1, iter: 2' in out
    assert 'mixskd_mm fixes to the stack: weights_only, atomic_writes applied' in out
    logs = sorted(glob.glob(os.path.join(work, '*', 'vis_data', 'scalars.json')))
    assert [r['iter'] for r in map(json.loads, open(logs[-1])) if 'loss' in r] == [3, 4]


def test_our_train_tool_logs_the_fixes_once(tmp_path, fake_fashion_mnist):
    proc = run_tool('tools/train.py', CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                    *_opts(fake_fashion_mnist, 1), env={compat.SWITCH: 'atomic_writes'})
    line = 'mixskd_mm fixes to the stack: weights_only applied, atomic_writes off'
    assert (proc.stdout + proc.stderr).count(line) == 1
