"""``tools/compare.py --channels-last`` and ``--amp``: how the runs compute fast, written into every run."""
import json
import shutil

import pytest
import torch
from _compare_data import TINY, compare, write_class_folders
from mmengine.config import Config

from mixskd_mm.compare import cli
from mixskd_mm.compare.configs import model_config
from mixskd_mm.engine import cpu_perf


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    return write_class_folders(tmp_path_factory.mktemp('cls') / 'data')


def test_channels_last_reaches_every_generated_config_and_is_a_speed_setting(folders, tmp_path):
    out = tmp_path / 'out'
    args = ('--data', str(folders), '--out', str(out), '--methods', 'ce,mixskd', '--seeds', '0', *TINY,
            '--print-commands')
    compare(*args)
    for name in ('ce_seed0', 'mixskd_seed0'):
        assert 'channels_last' not in Config.fromfile(str(out / 'configs' / f'{name}.py')).model  # off: contiguous
    shutil.rmtree(out / 'configs')
    compare(*args, '--channels-last', 'auto')  # not refused as a changed setting: it changes rounding only
    for name in ('ce_seed0', 'mixskd_seed0'):
        assert Config.fromfile(str(out / 'configs' / f'{name}.py')).model.channels_last == 'auto'
    assert 'channels_last' not in json.loads((out / 'settings.json').read_text())
    with pytest.raises(ValueError, match="unknown layout 'yes'; choose from off, on, auto"):
        model_config('ce', 'test_resnet', 2, [0, 0, 0], [1, 1, 1], 'yes')


def _print_commands(folders, out, *extra):
    cli.main(['--data', str(folders), '--out', str(out), '--methods', 'ce,mixskd', '--seeds', '0', *TINY,
              '--print-commands', *extra])


def test_amp_goes_to_every_pretraining_command_and_is_a_recorded_setting(folders, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cpu_perf, 'native_bf16', lambda: (True, 'native bf16: amx_bf16'))
    _print_commands(folders, tmp_path / 'amp', '--amp')
    train = [line for line in capsys.readouterr().out.splitlines() if line.startswith('python tools/train.py')]
    assert len(train) == 2 and all(line.endswith(' --amp') for line in train)
    assert json.loads((tmp_path / 'amp' / 'settings.json').read_text())['amp'] is True
    _print_commands(folders, tmp_path / 'fp32')
    train = [line for line in capsys.readouterr().out.splitlines() if line.startswith('python tools/train.py')]
    assert len(train) == 2 and not any('--amp' in line for line in train)
    assert 'amp' not in json.loads((tmp_path / 'fp32' / 'settings.json').read_text())  # older folders still resume
    with pytest.raises(cli.SettingsChanged, match='amp: None in .*, now True'):
        _print_commands(folders, tmp_path / 'fp32', '--amp')  # fp16/bf16 change the numbers: a changed setting


def test_amp_is_refused_before_any_run_where_it_cannot_work(folders, tmp_path, monkeypatch):
    monkeypatch.setattr(cpu_perf, 'native_bf16', lambda: (False, 'this CPU has no native bf16'))
    with pytest.raises(RuntimeError, match='--amp on this CPU: this CPU has no native bf16. Leave --amp out'):
        _print_commands(folders, tmp_path / 'out', '--amp')
    assert not (tmp_path / 'out').exists()  # refused before anything was written
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(RuntimeError, match='--amp with --gpus needs CUDA'):
        cli.check_amp('0,1')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cli.check_amp(None)  # the runs see this GPU without --gpus too: fp16 there, whatever the CPU's flags
    cli.check_amp('0')


def test_the_report_says_when_the_runs_used_mixed_precision():
    from mixskd_mm.compare.report import _setup_section
    data = dict(name='d', layout='class folders', classes=['a', 'b'], splits=dict(train=dict(images=4)),
                carved_val=False, modes=['RGB'], sizes=dict(width=dict(min=8, max=8), height=dict(min=8, max=8)))
    settings = dict(img_size=8, model='test_resnet', epochs=1, batch=2, lr=0.1, seeds=[0])
    model_line = next(line for line in _setup_section(data, settings, 'test') if line.startswith('- Model'))
    assert model_line.endswith('for every method.') and 'mixed precision' not in model_line
    model_line = next(line for line in _setup_section(data, dict(settings, amp=True), 'test')
                      if line.startswith('- Model'))
    assert model_line.endswith('mixed precision (`tools/train.py --amp`) in every pretraining run.')
