"""Helpers for tests: run the tools as a user does."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tool_env(**overrides):
    """Environment of a tool run by the tests: unbuffered output, ``OMP_NUM_THREADS`` as set for this worker
    (tests/conftest.py) or 2. Runs compared value by value must share it: the thread count changes float sums."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '2'))
    env.update(overrides)
    return env


def loader_opts(root, splits=('train', 'val'), batch=20):
    """``--cfg-options`` entries pointing each split's dataloader at ``root``: batch size, no worker processes."""
    opts = []
    for split in splits:
        opts += [f'{split}_dataloader.dataset.data_root={root}', f'{split}_dataloader.batch_size={batch}',
                 f'{split}_dataloader.num_workers=0', f'{split}_dataloader.persistent_workers=False']
    return opts


def run_tool(*args, timeout=600, check=True, env=None):
    """Run ``python tools/<args>`` from the repository root; returns the CompletedProcess (output captured)."""
    full_env = tool_env(**(env or {}))
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}')
    return proc
