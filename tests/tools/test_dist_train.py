"""``tools/dist_train.sh`` / ``tools/dist_test.sh``: torchrun + MMEngine's ``pytorch`` launcher, two processes on
the CPU (gloo), with the real Runner and DDP wrapper."""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings

import pytest
import torch
from _helpers import ROOT, loader_opts, tool_env

import mixskd_mm  # noqa: F401  (weights-only loading of mmengine checkpoints)

CONFIG = 'configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py'
PER_EPOCH = 10  # 40 images, 2 per process and step, 2 processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _env(**extra):
    return tool_env(PYTHON=sys.executable, PORT=str(_free_port()), OMP_NUM_THREADS='1', **extra)


_CAUSE_MARKS = ('Error', 'error:', 'terminate called', 'what():', 'Traceback', 'enforce fail', 'Abort', 'Signal ')


def _causes(out: str) -> str:
    """The lines of a launch's output that name why it failed (torchrun's own summary ends the output)."""
    return '\n'.join([line for line in out.splitlines() if any(mark in line for mark in _CAUSE_MARKS)][-40:])


def _launch(script, *args, env=None, fresh_dir=None, resuming=False):
    """Run a launcher script; fail with the causes last, where a log's tail (CI keeps only that) shows them.

    ``fresh_dir``: the work dir of a run that starts from nothing. If a rank of such a run dies of a signal other
    than torchrun's SIGTERM (seen once in CI: rank 1 aborted, its reason cut from the log), the run is repeated
    once from an empty dir, with a warning carrying the first attempt's causes; an error of ours fails at once.
    ``resuming``: a ``--resume`` run, repeated as it is after such a death: it resumes from the last checkpoint the
    first attempt wrote (seen once on an AMD EPYC: rank 0 aborted with "terminate called without an active
    exception" after its last validation, in gloo's teardown).
    """
    earlier = ''  # a repeated run's output follows the first attempt's
    for attempt in (1, 2):
        proc = subprocess.run(['bash', script, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env=env or _env())
        out = proc.stdout + proc.stderr
        if proc.returncode == 0:
            return earlier + out
        # a rank that died of a signal of its own (abort, segfault); the others then get SIGTERM from torchrun or a
        # connection reset: Python errors of ours end a rank with exit code 1 instead
        killed = any(int(code) != signal.SIGTERM for code in re.findall(r'exitcode\s*:\s*-(\d+)', out))
        if attempt == 1 and killed and (fresh_dir is not None or resuming):
            warnings.warn(f'{script}: a rank was killed by a signal; repeating the run once.\n{_causes(out)}',
                          stacklevel=2)  # the test that launched it
            if fresh_dir is not None:
                shutil.rmtree(fresh_dir, ignore_errors=True)
            else:
                earlier = out
            if env is not None:
                env = dict(env, PORT=str(_free_port()))
            continue
        pytest.fail(f'{script} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}\n'
                    f'-- lines naming a cause --\n{_causes(out)}', pytrace=False)


def test_two_processes_train_split_the_data_and_evaluate(tmp_path, fake_fashion_mnist):
    work = tmp_path / 'work'
    _launch('tools/dist_train.sh', CONFIG, '2', '--work-dir', str(work), '--cfg-options', 'train_cfg.max_epochs=1',
            'param_scheduler=[]', 'default_hooks.logger.interval=1', 'train_dataloader.dataset.num_per_class=None',
            *loader_opts(fake_fashion_mnist, batch=4), fresh_dir=work)
    log = open(glob.glob(str(work / '*' / '*.log'))[0]).read()
    assert 'Distributed training: True' in log and "type='MMDistributedDataParallel'" in log
    iters = [json.loads(line)['iter'] for line in open(glob.glob(str(work / '*' / 'vis_data' / 'scalars.json'))[0])
             if '"loss"' in line]
    assert iters == [1, 2, 3, 4, 5]  # 40 images, 4 per process and step, 2 processes: the sampler split the data
    assert os.path.isfile(work / 'epoch_1.pth') and os.path.isfile(work / 'backbone.safetensors')
    out = _launch('tools/dist_test.sh', CONFIG, str(work / 'epoch_1.pth'), '2', '--work-dir', str(tmp_path / 'test'),
                  '--cfg-options', *loader_opts(fake_fashion_mnist, ('test',), batch=4))
    assert 'Epoch(test)' in out and 'accuracy/top1' in out


# -- per-rank lam and permutation, exact resume --------------------------------------------------------------------
def _probe_setup(tmp_path, data_root):
    """A config adding the test-only ``RankProbeHook`` (tests/_rank_probe.py), and the train options: 2 epochs of
    10 steps, validation (and the best checkpoint) after each, deterministic kernels."""
    config = tmp_path / 'probe_cfg.py'
    config.write_text(f"_base_ = {os.path.join(ROOT, CONFIG)!r}\n"
                      "custom_imports = dict(imports=['_rank_probe'], allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='RankProbeHook')]\n")
    opts = ['train_cfg.max_epochs=2', 'train_cfg.val_interval=1', 'randomness.deterministic=True',
            'train_dataloader.dataset.num_per_class=None', *loader_opts(data_root, batch=2)]
    return str(config), opts


def _probe_env(**extra):
    return _env(PYTHONPATH=os.path.join(ROOT, 'tests'), **extra)


def _records(work_dir, rank):
    """``{iter: record}`` of one rank; a resumed run's records replace those of the iterations it repeated."""
    with open(os.path.join(work_dir, f'probe_rank{rank}.jsonl')) as f:
        return {rec['iter']: rec for rec in map(json.loads, f)}


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, fake_fashion_mnist):
    """One uninterrupted 2-process run: (config, options, work dir)."""
    tmp = tmp_path_factory.mktemp('dist_full')
    config, opts = _probe_setup(tmp, fake_fashion_mnist)
    _launch('tools/dist_train.sh', config, '2', '--work-dir', str(tmp / 'work'), '--cfg-options', *opts,
            env=_probe_env(), fresh_dir=tmp / 'work')
    return config, opts, tmp / 'work'


def test_each_process_draws_its_own_lam_and_saves_its_generators(uninterrupted):
    _, _, work = uninterrupted
    ranks = [_records(work, 0), _records(work, 1)]
    assert sorted(ranks[0]) == sorted(ranks[1]) == list(range(1, 2 * PER_EPOCH + 1))
    for it in ranks[0]:
        assert ranks[0][it]['mix_lam'] != ranks[1][it]['mix_lam'], f'iteration {it}: both ranks drew one lam'
    ckpt = torch.load(work / 'epoch_1.pth', map_location='cpu', weights_only=True)
    states = ckpt['rng_state_per_rank']
    assert len(states) == 2 and not torch.equal(states[0]['torch'], states[1]['torch'])
    assert torch.equal(ckpt['rng_state']['torch'], states[0]['torch'])  # the single-process entry: rank 0's


def _kill_mid_epoch_2(config, opts, work):
    """Start the run, stop every rank before iteration 15 (the probe), SIGKILL the launcher's process group and
    the workers (torchrun starts each in its own session)."""
    cmd = ['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work), '--cfg-options', *opts]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=_probe_env(RANK_PROBE_PAUSE_AT=str(PER_EPOCH + 5)))
    markers = [work / f'paused_rank{r}' for r in (0, 1)]
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not all(m.is_file() and m.read_text() for m in markers):
        time.sleep(0.1)
    try:
        assert proc.poll() is None, 'the run ended before it could be killed mid-epoch'
        assert all(m.is_file() for m in markers), 'the ranks did not reach iteration 15 in time'
    finally:
        pids = [int(m.read_text()) for m in markers if m.is_file() and m.read_text()]
        for kill, pid in [(os.killpg, proc.pid)] + [(os.kill, pid) for pid in pids]:
            try:
                kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # already gone
                pass
        proc.wait()


def test_killed_two_process_run_resumes_with_the_losses_of_an_uninterrupted_run(uninterrupted, tmp_path):
    config, opts, full = uninterrupted
    killed = tmp_path / 'killed'
    _kill_mid_epoch_2(config, opts, killed)
    assert os.path.isfile(killed / 'epoch_1.pth') and not os.path.exists(killed / 'epoch_2.pth')
    for rank in (0, 1):  # the same seed gives the same run up to the kill
        before, expected = _records(killed, rank), _records(full, rank)
        assert sorted(before) == list(range(1, PER_EPOCH + 5))
        assert [before[i] for i in before] == [expected[i] for i in before]

    out = _launch('tools/dist_train.sh', config, '2', '--work-dir', str(killed), '--resume', '--cfg-options', *opts,
                  env=_probe_env(), resuming=True)
    assert f'resumed epoch: 1, iter: {PER_EPOCH}' in out
    for rank in (0, 1):
        resumed, expected = _records(killed, rank), _records(full, rank)
        for it in range(PER_EPOCH + 1, 2 * PER_EPOCH + 1):
            assert resumed[it] == expected[it], f'rank {rank}, iteration {it}'
