"""The same picture in two splits (``mixskd_mm/compare/duplicates.py``): found, named in the warning, the report's
notes and ``data/duplicates.txt``, dropped from validation and test by ``--drop-duplicates``, and silent without."""
import json
import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from mixskd_mm.compare import cli
from mixskd_mm.compare.data import DataError, prepare_data
from mixskd_mm.compare.report import _setup_section

SETTINGS = dict(img_size=32, model='test_resnet', epochs=1, batch=2, lr=0.1, seeds=[0])


def write_noise_folders(root, per_split=(('train', 3), ('val', 2), ('test', 2)), classes=('cat', 'dog'), seed=0):
    """``root/<split>/<class>/<i>.png``: 12 x 10 RGB noise, every picture different."""
    rng = np.random.default_rng(seed)
    for split, count in per_split:
        for name in classes:
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f'{i}.png')
    return root


@pytest.fixture
def copies(tmp_path):
    """Clean folders plus three pictures in two splits: two copied files and one re-saved with other bytes."""
    root = write_noise_folders(tmp_path / 'data')
    shutil.copy(root / 'train' / 'cat' / '0.png', root / 'test' / 'cat' / 'copy.png')
    shutil.copy(root / 'train' / 'dog' / '1.png', root / 'val' / 'dog' / 'again.png')
    with Image.open(root / 'val' / 'cat' / '1.png') as img:  # the same pixels, other bytes (no compression)
        img.save(root / 'test' / 'dog' / 'resaved.png', compress_level=0)
    assert (root / 'test' / 'dog' / 'resaved.png').read_bytes() != (root / 'val' / 'cat' / '1.png').read_bytes()
    return root


def _paths(out, split):
    return [line.rsplit(' ', 1)[0] for line in (out / 'data' / f'{split}.txt').read_text().splitlines()]


def test_pictures_in_two_splits_are_named_in_the_warning_the_report_and_the_listing(copies, tmp_path):
    out = tmp_path / 'out'
    with pytest.warns(UserWarning, match=r'3 validation/test image\(s\) are the same picture') as caught:
        info = prepare_data(str(copies), str(out))
    message = next(str(w.message) for w in caught if 'same picture' in str(w.message))
    for pair in ('val/dog/again.png = train/dog/1.png', 'test/cat/copy.png = train/cat/0.png',
                 'test/dog/resaved.png = val/cat/1.png (same pixels)'):
        assert pair in message
    assert '(val 1, test 2; 1 of them the same pixels in another file)' in message and '--drop-duplicates' in message
    record = info['duplicates']
    assert record['count'] == 3 and record['per_split'] == dict(val=1, test=2) and not record['dropped']
    assert json.loads((out / 'data' / 'data.json').read_text())['duplicates'] == record  # read again on --collect
    notes = [line for line in _setup_section(info, SETTINGS, 'test') if line.startswith('- Note:')]
    assert notes == [f'- Note: {message}']
    listing = [line.split('\t') for line in (out / 'data' / 'duplicates.txt').read_text().splitlines()]
    assert [(row[0], row[1].split('/')[-1], row[2], row[4]) for row in listing] == [
        ('val', 'again.png', 'train', 'file'), ('test', 'copy.png', 'train', 'file'),
        ('test', 'resaved.png', 'val', 'pixels')]
    assert str(copies / 'test' / 'cat' / 'copy.png') in _paths(out, 'test')  # reported, not dropped, by default


def test_drop_duplicates_removes_them_from_validation_and_test_only(copies, tmp_path):
    out = tmp_path / 'out'
    with pytest.warns(UserWarning, match=r'They were dropped from validation and test \(--drop-duplicates\)'):
        info = prepare_data(str(copies), str(out), drop_duplicates=True)
    val, test = _paths(out, 'val'), _paths(out, 'test')
    assert len(val) == 4 and len(test) == 4 and info['splits']['test']['images'] == 4 and info['duplicates']['dropped']
    assert not any(p.endswith(('again.png', 'copy.png', 'resaved.png')) for p in val + test)
    assert str(copies / 'train' / 'cat' / '0.png') in _paths(out, 'train')  # the training picture stays
    assert str(copies / 'val' / 'cat' / '1.png') in val  # so does the validation picture the test copy repeated
    for f in (copies / 'val' / 'cat').iterdir():  # validation made only of training pictures: nothing would be left
        f.unlink()
    shutil.copy(copies / 'train' / 'cat' / '2.png', copies / 'val' / 'cat' / 'x.png')
    for f in (copies / 'val' / 'dog').iterdir():
        if f.name != 'again.png':
            f.unlink()
    with pytest.raises(DataError, match='every image of the val split.* leaves nothing to evaluate on'):
        prepare_data(str(copies), str(tmp_path / 'out2'), drop_duplicates=True)


def test_without_pictures_in_two_splits_nothing_is_said(tmp_path):
    root = write_noise_folders(tmp_path / 'data')
    near = np.asarray(Image.open(root / 'train' / 'cat' / '0.png')).copy()
    near[0, 0, 0] ^= 1  # one value off a training picture: another picture, not a duplicate
    Image.fromarray(near).save(root / 'test' / 'cat' / 'almost.png')
    (tmp_path / 'out' / 'data').mkdir(parents=True)
    (tmp_path / 'out' / 'data' / 'duplicates.txt').write_text('stale\n')  # from an earlier, refused preparation
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        info = prepare_data(str(root), str(tmp_path / 'out'))
    assert info['duplicates'] == dict(count=0) and info['notes'] == []
    assert not (tmp_path / 'out' / 'data' / 'duplicates.txt').exists()
    assert not any(line.startswith('- Note:') for line in _setup_section(info, SETTINGS, 'test'))


def _print_commands(root, out, *extra):
    cli.main(['--data', str(root), '--out', str(out), '--init', 'scratch', '--model', 'test_resnet', '--methods',
              'ce', '--seeds', '0',
              '--epochs', '1', '--no-progress', '--jobs', '1', '--print-commands', *extra])


def test_drop_duplicates_is_a_recorded_setting(copies, tmp_path):
    with pytest.warns(UserWarning, match='dropped from validation and test'):
        _print_commands(copies, tmp_path / 'drop', '--drop-duplicates')
    assert json.loads((tmp_path / 'drop' / 'settings.json').read_text())['drop_duplicates'] is True
    assert json.loads((tmp_path / 'drop' / 'data' / 'data.json').read_text())['splits']['test']['images'] == 4
    with pytest.warns(UserWarning, match=r'--drop-duplicates \(with a new --out\) drops them'):
        _print_commands(copies, tmp_path / 'keep')
    assert 'drop_duplicates' not in json.loads((tmp_path / 'keep' / 'settings.json').read_text())  # older folders
    with pytest.raises(cli.SettingsChanged, match='drop_duplicates: None in .*, now True'):
        _print_commands(copies, tmp_path / 'keep', '--drop-duplicates')  # other test images: a changed setting
