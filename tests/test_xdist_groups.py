"""``make test``'s ``--dist loadgroup`` keeps a group on one worker (tests/conftest.py mends pytest-xdist 3.8's group
suffix for pytest 9): an ``xdist_group`` mark, and a module whose tests share a module-scoped fixture."""
import os
import re
import shutil
import subprocess
import sys

from _helpers import ROOT

MARKED = '''import os, pytest
pytestmark = pytest.mark.xdist_group('g')
@pytest.mark.parametrize('i', range(6))
def test_a(i):
    print('worker', os.environ['PYTEST_XDIST_WORKER'])
'''
SHARED = '''import os, pytest
@pytest.fixture(scope='module')
def built():
    return 1
@pytest.mark.parametrize('i', range(6))
def test_c(i, built):
    pass
'''
FREE = '''import pytest
@pytest.mark.parametrize('i', range(12))
def test_b(i):
    pass
'''


def test_a_group_and_a_module_fixtures_tests_stay_on_one_worker(tmp_path):
    shutil.copy(os.path.join(ROOT, 'tests', 'conftest.py'), tmp_path / 'conftest.py')
    for name, text in (('test_a.py', MARKED), ('test_b.py', FREE), ('test_c.py', SHARED)):
        (tmp_path / name).write_text(text)
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-n', '2', '--dist', 'loadgroup', '-v', '-p',
                           'no:cacheprovider', str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    ran = re.findall(r'\[(gw\d)\] .*PASSED (test_\w)\.py', proc.stdout)
    workers = {f: {w for w, g in ran if g == f} for f in ('test_a', 'test_b', 'test_c')}
    assert len(ran) == 24
    assert len(workers['test_a']) == 1 and len(workers['test_c']) == 1, workers
    assert len(workers['test_b']) == 2  # ungrouped tests still spread over both workers
