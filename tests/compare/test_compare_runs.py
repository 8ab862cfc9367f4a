"""`tools/compare.py` runs of their own, beside the shared comparison (so they may run on the other pytest-xdist
worker): commands for a scheduler and --collect, a sweep chosen on validation, a killed comparison resumed,
and bad data."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _compare_data import CLASSES, TINY, compare, write_class_folders
from _helpers import ROOT, run_tool, tool_env
from mmengine.config import Config

from mixskd_mm.compare.data import DataError, prepare_data
from mixskd_mm.evaluation.metrics.calibration import load_scores


def test_print_commands_and_collect(folders, tmp_path):
    out = tmp_path / 'out'
    proc = compare('--data', str(folders), '--out', str(out), '--methods', 'ce', '--seeds', '3', *TINY,
                   '--print-commands')
    lines = [line for line in proc.stdout.splitlines() if line.startswith('python tools/')]
    assert lines == [f'python tools/train.py {out}/configs/ce_seed3.py --work-dir {out}/runs/ce_seed3',
                     f'python tools/test.py {out}/configs/ce_seed3.py {out}/runs/ce_seed3/epoch_1.pth '
                     f'--work-dir {out}/runs/ce_seed3/test']
    assert not (out / 'runs' / 'ce_seed3' / 'epoch_1.pth').exists()
    proc = compare('--data', str(folders), '--out', str(out), '--methods', 'ce', '--seeds', '3', *TINY,
                   '--collect', check=False)
    assert proc.returncode != 0 and 'ce_seed3' in proc.stderr and 'have not finished' in proc.stderr
    for line in lines:  # a scheduler runs them; --collect then builds the report
        run_tool(*line.split()[1:])
    compare('--data', str(folders), '--out', str(out), '--methods', 'ce', '--seeds', '3', *TINY, '--collect')
    assert json.loads((out / 'results.json').read_text())['summary']['ce']['seeds'] == [3]


def test_sweep_is_chosen_on_validation(folders, tmp_path):
    out = tmp_path / 'out'
    compare('--data', str(folders), '--out', str(out), '--methods', 'ce,mixup', '--seeds', '0', *TINY,
            '--sweep', 'model.alpha=0.2,1.0')
    results = json.loads((out / 'results.json').read_text())
    assert sorted(os.listdir(out / 'runs')) == ['ce_seed0', 'mixup_alpha-0.2_seed0', 'mixup_alpha-1.0_seed0']
    candidates = results['chosen']['mixup']['candidates']
    assert [c['setting'] for c in candidates] == [{'model.alpha': 0.2}, {'model.alpha': 1.0}]
    best = max(candidates, key=lambda c: c['val_top1'])
    assert results['chosen']['mixup']['setting'] == best['setting']
    assert results['summary']['mixup']['setting'] == best['setting']
    # --no-robustness (TINY): no corrupted data, no evaluation config, no section, robustness null
    assert results['robustness'] is None and results['plots'][-1] != 'robustness.png'
    assert not (out / 'data' / 'corrupted').exists() and not list((out / 'configs').glob('*_corrupt.py'))
    assert '## Robustness' not in (out / 'report.md').read_text()
    assert Config.fromfile(str(out / 'configs' / 'mixup_alpha-0.2_seed0.py')).model.alpha == 0.2


def test_killed_comparison_resumes_to_the_same_numbers(folders, tmp_path):
    args = ['--data', str(folders), '--init', 'scratch', '--methods', 'mixskd', '--seeds', '0', '--model',
            'test_resnet', '--epochs',
            '3', '--batch', '8', '--no-progress', '--jobs', '1']
    compare(*args, '--out', str(tmp_path / 'whole'))
    out = tmp_path / 'killed'
    proc = subprocess.Popen([sys.executable, 'tools/compare.py', *args, '--out', str(out)], cwd=ROOT, env=tool_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / 'runs' / 'mixskd_seed0' / 'epoch_1.pth'
    deadline = time.time() + 600
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert first.exists() and proc.poll() is None, 'the comparison ended before it could be killed'
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.0)  # the training child dies with its parent
    assert not (out / 'runs' / 'mixskd_seed0' / 'epoch_3.pth').exists()
    resumed = compare(*args, '--out', str(out))
    assert '--work-dir ' + str(out / 'runs' / 'mixskd_seed0') + ' --resume' in \
        (out / 'logs' / 'mixskd_seed0.log').read_text()
    assert resumed.returncode == 0
    a = load_scores(str(tmp_path / 'whole' / 'runs' / 'mixskd_seed0' / 'test_scores.npz'))
    b = load_scores(str(out / 'runs' / 'mixskd_seed0' / 'test_scores.npz'))
    np.testing.assert_array_equal(a['labels'], b['labels'])
    np.testing.assert_allclose(a['probs'], b['probs'], rtol=0, atol=1e-6)


# -- bad data: each gets its message or its documented handling (no training) ------------------------------------
def test_empty_data_folder(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DataError, match='holds no class folder'):
        prepare_data(str(tmp_path / 'empty'), str(tmp_path / 'out'))
    proc = compare('--data', str(tmp_path / 'empty'), '--out', str(tmp_path / 'out2'), *TINY, check=False)
    assert proc.returncode != 0 and 'holds no class folder' in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'out2' / 'settings.json').exists()  # refused data binds no settings to --out


def test_empty_class_folder_is_refused(tmp_path):
    root = write_class_folders(tmp_path / 'data', per_class=(4,), splits=('train',))
    (root / 'train' / 'sandal').mkdir()
    with pytest.raises(ValueError, match='sandal'):
        prepare_data(str(root), str(tmp_path / 'out'))


def test_val_class_unknown_to_train_is_refused(tmp_path):
    root = write_class_folders(tmp_path / 'data', per_class=(4, 2), splits=('train', 'val'))
    os.rename(root / 'val' / 'trouser', root / 'val' / 'trousers')
    with pytest.raises(ValueError, match='trousers'):
        prepare_data(str(root), str(tmp_path / 'out'))


def test_val_lacking_a_class_keeps_the_training_numbering(tmp_path):
    root = write_class_folders(tmp_path / 'data', per_class=(4, 2), splits=('train', 'val'))
    for f in (root / 'val' / 'shirt top').iterdir():
        f.unlink()
    (root / 'val' / 'shirt top').rmdir()
    prepare_data(str(root), str(tmp_path / 'out'))
    lines = (tmp_path / 'out' / 'data' / 'val.txt').read_text().splitlines()
    labels = {line.rsplit(' ', 1)[0].split(os.sep)[-2]: int(line.rsplit(' ', 1)[1]) for line in lines}
    assert labels == {'ankle boot': 0, 'trouser': 2}


def test_single_image_class_stays_in_training(tmp_path):
    root = write_class_folders(tmp_path / 'data', per_class=(5,), splits=('train',))
    for f in sorted((root / 'train' / 'trouser').iterdir())[1:]:
        f.unlink()
    with pytest.warns(UserWarning, match="'trouser' has a single training image"):
        info = prepare_data(str(root / 'train'), str(tmp_path / 'out'))
    assert info['splits']['train']['per_class'] == [4, 4, 1] and info['splits']['val']['per_class'] == [1, 1, 0]
    assert any('single training image' in note for note in info['notes'])


def test_corrupt_image_is_named(tmp_path):
    root = write_class_folders(tmp_path / 'data', per_class=(4,), splits=('train',))
    bad = root / 'train' / 'trouser' / '1.png'
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(DataError, match='1.png'):
        prepare_data(str(root), str(tmp_path / 'out'))


def test_annotation_file(tmp_path):
    root = write_class_folders(tmp_path / 'data', per_class=(4, 2), splits=('train', 'test'))
    names = list(CLASSES.values())  # classes.txt gives the order; labels are indices into it
    (root / 'classes.txt').write_text('\n'.join(names) + '\n')
    for split in ('train', 'test'):
        lines = [f'{split}/{c}/{f.name} {i}' for i, c in enumerate(names) for f in sorted((root / split / c).iterdir())]
        (root / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    info = prepare_data(str(root / 'train.txt'), str(tmp_path / 'out'))
    assert info['layout'] == 'annotation-file' and info['classes'] == names
    assert (tmp_path / 'out' / 'data' / 'test.txt').read_text().splitlines()[0] == \
        f'{root}/test/shirt top/0.png 0'
    assert info['has_test'] and info['splits']['test']['images'] == 6 and info['carved_val']
    (root / 'test.txt').write_text('test/trouser/0.png sandal\n')
    with pytest.raises(DataError, match="label 'sandal'"):
        prepare_data(str(root / 'train.txt'), str(tmp_path / 'out2'))
