"""The comparison most compare tests read: every method, two seeds, from scratch and from a source our tools made.

Session-scoped and shared by test_compare.py and test_compare_starts.py, whose tests run on one pytest-xdist worker
(their ``xdist_group``; ``make test`` runs ``--dist loadgroup``), so it is trained once per suite.
"""
import pytest
from _compare_data import METHODS, ROBUST_NO_INIT, TINY, compare, write_class_folders
from _helpers import run_tool


@pytest.fixture(scope='session')
def folders(tmp_path_factory):
    return write_class_folders(tmp_path_factory.mktemp('cls') / 'data')


@pytest.fixture(scope='session')
def source(folders, tmp_path_factory):
    """A timm model folder exported by tools/export_backbone.py from a tiny CE run of tools/compare.py."""
    root = tmp_path_factory.mktemp('source')
    compare('--data', str(folders), '--out', str(root / 'cmp'), '--methods', 'ce', '--seeds', '0', *TINY)
    run_tool('tools/export_backbone.py', str(root / 'cmp' / 'runs' / 'ce_seed0' / 'epoch_1.pth'), str(root / 'src'),
             '--format', 'timm')
    return str(root / 'src')


@pytest.fixture(scope='session')
def both_args(folders, source):
    """The command line of the shared comparison, without ``--out`` (with the evaluation under corruptions)."""
    return ['--data', str(folders), '--init', f'scratch,local-dir:{source}', '--methods', METHODS,
            '--seeds', '0', '1', *ROBUST_NO_INIT]


@pytest.fixture(scope='session')
def both(both_args, tmp_path_factory):
    """``(OUT, CompletedProcess)`` of the shared comparison."""
    out = tmp_path_factory.mktemp('both') / 'out'
    return out, compare('--out', str(out), *both_args)
