"""tools/compare.py refuses every bad option before any data is read or any run starts, naming the option, the value
given and the values it takes."""
import os
import re

import pytest

from mixskd_mm.compare import cli


@pytest.fixture
def base(tmp_path):
    """A valid command line (the embedded data needs no folder); the bad option is appended."""
    return ['--data', 'fashion-mnist', '--out', str(tmp_path / 'out')]


def _paths(tmp_path):
    """Files and folders the path options are given: a file, a folder, a missing path."""
    (tmp_path / 'notes.txt').write_text('x')
    (tmp_path / 'epoch_1.pth').write_bytes(b'PK')
    (tmp_path / 'folder').mkdir()
    return dict(file=tmp_path / 'notes.txt', ckpt=tmp_path / 'epoch_1.pth', folder=tmp_path / 'folder',
                missing=tmp_path / 'missing')


#: option, bad value, the message after the option (a regular expression); ``{file}`` etc.: see :func:`_paths`
BAD = [
    ('--epochs', '0', r'0: expected an integer >= 1'),
    ('--epochs', '-3', r'-3: expected an integer >= 1'),
    ('--batch', '0', r'0: expected an integer >= 1'),
    ('--lr', '0', r'0\.0: expected a number > 0'),
    ('--lr', '-0.1', r'-0\.1: expected a number > 0'),
    ('--lr', 'nan', r'nan: expected a number > 0'),
    ('--lr', 'inf', r'inf: expected a number > 0'),
    ('--img-size', '8', r'8: expected an integer in 16\.\.1024'),
    ('--img-size', '4096', r'4096: expected an integer in 16\.\.1024'),
    ('--seeds', '-1', r'-1: expected integers in 0\.\.4294967295; \[-1\] are not'),
    ('--val-fraction', '0', r'0\.0: expected a number between 0 and 1, both excluded'),
    ('--val-fraction', '1', r'1\.0: expected a number between 0 and 1, both excluded'),
    ('--max-per-class', '0', r'0: expected an integer >= 1'),
    ('--per-class', '0', r'0: expected an integer >= 1'),
    ('--val-per-class', '-2', r'-2: expected an integer >= 1'),
    ('--det-iters', '0', r'0: expected an integer >= 1'),
    ('--seg-iters', '0', r'0: expected an integer >= 1'),
    ('--transfer-seeds', '0', r'0: expected an integer in 1\.\.3 \(the number of --seeds\)'),
    ('--transfer-seeds', '4', r'4: expected an integer in 1\.\.3 \(the number of --seeds\)'),
    ('--jobs', '0', r'0: expected an integer >= 1'),
    ('--workers', '-1', r'-1: expected an integer >= 0'),
    ('--cam-images', '-1', r'-1: expected an integer >= 0'),
    ('--gpus', 'a,b', r"'a,b': expected comma-separated GPU ids: distinct integers >= 0"),
    ('--gpus', '-1', r"'-1': expected comma-separated GPU ids"),
    ('--gpus', '0,0', r"'0,0': expected comma-separated GPU ids: distinct"),
    ('--sweep', 'model.alpha', r"'model\.alpha': expected KEY=V1,V2,\.\.\."),
    ('--sweep', 'model.alpha=', r"'model\.alpha=': expected KEY=V1,V2,\.\.\."),
    ('--det-options', 'max_epochs', r"'max_epochs': expected KEY=VALUE config overrides"),
    ('--seg-options', '=2', r"'=2': expected KEY=VALUE config overrides"),
    ('--det-config', '{missing}', r"'.*missing': expected your mmdet config file \(\.py, \.yml, \.yaml, \.json\); "
                                  r"no such file"),
    ('--seg-config', '{folder}', r"'.*folder': expected your mmseg config file .*; a folder"),
    ('--det-config', '{ckpt}', r"'.*epoch_1\.pth': expected your mmdet config file .*; a \.pth file"),
    ('--det-data', '{missing}', r"'.*missing': expected a COCO-format folder .*; no such folder"),
    ('--seg-data', '{file}', r"'.*notes\.txt': expected an mmseg-layout folder .*; a file"),
    ('--data-root', '{missing}', r"'.*missing': expected the Fashion-MNIST IDX folder; no such folder"),
    ('--data', '{missing}', r"'.*missing': expected class folders .*or 'fashion-mnist'; no such file or folder"),
    ('--out', '{file}', r"'.*notes\.txt': expected a folder \(created if missing\) for the comparison; "
                        r"'.*notes\.txt' is a file"),
    ('--out', '{file}/run', r"'.*notes\.txt/run': expected a folder .*'.*notes\.txt' is a file"),
    ('--model', 'resnet181', r"'resnet181': expected a timm CNN name .*close names: \[.*'resnet18'"),
]


@pytest.mark.parametrize('option, value, message', BAD, ids=[f'{o}={v}' for o, v, _ in BAD])
def test_a_bad_option_is_refused_naming_it_its_value_and_the_valid_ones(option, value, message, base, tmp_path):
    value = value.format(**_paths(tmp_path))
    given = dict(zip(base[::2], base[1::2]), **{option: value})  # --data and --out replace the valid ones
    with pytest.raises(SystemExit) as err:
        cli.parse_args([word for pair in given.items() for word in pair])
    assert isinstance(err.value.code, str), "a message, not argparse's exit status"
    assert err.value.code.startswith(option + ' '), err.value.code
    assert re.match(message, err.value.code[len(option):].lstrip(' ')), err.value.code


def test_the_limits_themselves_and_the_defaults_pass(base):
    args = cli.parse_args(base)
    # epochs and lr default per start (compare.starts.schedule_defaults); the start defaults to timm's weights
    assert (args.epochs, args.lr, args.batch, args.workers, args.init) == (None, None, 32, 0, ['timm'])
    cli.parse_args(base + ['--img-size', '16', '--val-fraction', '0.5', '--transfer-seeds', '3', '--workers', '0',
                           '--epochs', '1', '--batch', '1', '--seeds', '0', '4294967295', '7', '--gpus', '0,1',
                           '--sweep', 'model.alpha=0.2,1', '--det-options', 'a.b=1', '--max-per-class', '1'])
    cli.parse_args(base + ['--img-size', '1024', '--lr', '1e-6', '--model', 'resnet18.a1_in1k'])  # a pretrained tag


def test_options_are_checked_before_any_data_is_prepared(tmp_path):
    """``--epochs 0`` used to end in mmengine's 'end should be larger than begin' once the data was prepared."""
    out = tmp_path / 'out'
    with pytest.raises(SystemExit, match=r'^--epochs 0: expected an integer >= 1$'):
        cli.main(['--data', 'fashion-mnist', '--out', str(out), '--epochs', '0'])
    assert not os.path.exists(out)
