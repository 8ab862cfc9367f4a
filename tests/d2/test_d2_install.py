"""Detectron2 stays optional (``import mixskd_mm`` without it; only mixskd_mm.detectron2 imports it), and the repack
script turns a sal-detectron2-shaped wheel into a pure-Python one."""
import ast
import importlib.util
import os
import subprocess
import sys
import zipfile

import pytest
from _helpers import ROOT

HIDDEN = '''
import sys
sys.modules['detectron2'] = None  # as if it were not installed
import mixskd_mm, mixskd_mm.models, mixskd_mm.weights, mixskd_mm.engine, mixskd_mm.export, mixskd_mm.cli.d2_train
try:
    import mixskd_mm.detectron2
except ImportError as err:
    print('REFUSED', err)
'''


def test_import_mixskd_mm_works_with_detectron2_hidden():
    proc = subprocess.run([sys.executable, '-c', HIDDEN], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'REFUSED mixskd_mm.detectron2 needs Detectron2' in proc.stdout and 'make setup' in proc.stdout


def test_only_mixskd_mm_detectron2_imports_detectron2():
    bad = []
    for tree in ('mixskd_mm', 'tools', 'benchmarks'):
        for folder, _, files in os.walk(os.path.join(ROOT, tree)):
            if os.path.relpath(folder, ROOT).split(os.sep)[:2] == ['mixskd_mm', 'detectron2']:
                continue
            for name in (f for f in files if f.endswith('.py')):
                path = os.path.join(folder, name)
                for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
                    names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                             else [node.module or ''] if isinstance(node, ast.ImportFrom) and not node.level else [])
                    bad += [f'{path}:{node.lineno}' for n in names if n.split('.')[0] == 'detectron2']
    assert not bad, 'Detectron2 imported outside mixskd_mm/detectron2: ' + ', '.join(bad)


def _load_repack():
    spec = importlib.util.spec_from_file_location('repack_detectron2', os.path.join(ROOT, 'tools',
                                                                                    'repack_detectron2.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_repack_drops_the_compiled_part_and_tools_patches_numpy2_and_fixes_the_metadata(tmp_path):
    repack = _load_repack()
    info = repack.SRC_INFO
    source = tmp_path / repack.SOURCE_NAME
    metadata = ('Metadata-Version: 2.1\nName: sal-detectron2\nVersion: 0.7.2\nRequires-Dist: numpy<2\n'
                'Requires-Dist: tensorboard\nRequires-Dist: black\nProvides-Extra: all\n'
                'Requires-Dist: timm; extra == "all"\n')
    files = {'detectron2/__init__.py': '', 'detectron2/_C.cpython-310-x86_64-linux-gnu.so': 'elf',
             'tools/__init__.py': '', 'tools/train_net.py': '', info + 'METADATA': metadata,
             info + 'WHEEL': 'Tag: cp310-cp310-linux_x86_64\n', info + 'top_level.txt': 'detectron2\ntools\n',
             info + 'RECORD': ''}
    files.update({name: f'x = 1\n{old}\n' for name, (old, _) in repack.PATCHES.items()})
    with zipfile.ZipFile(source, 'w') as z:
        for name, text in files.items():
            z.writestr(name, text)
    out = repack.repack(str(source), str(tmp_path / 'out'))
    assert os.path.basename(out) == 'sal_detectron2-0.7.2+purepy-py3-none-any.whl'
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        read = {n: z.read(n).decode() for n in names}
    assert not [n for n in names if n.startswith(('tools/', 'detectron2/_C'))]
    for name, (old, new) in repack.PATCHES.items():
        assert new in read[name] and old not in read[name]
    meta = read[repack.OUT_INFO + 'METADATA']
    assert 'Version: 0.7.2+purepy' in meta and 'Requires-Dist: numpy\n' in meta and 'numpy<2' not in meta
    assert 'Requires-Dist: fvcore>=0.1.5\n' in meta and 'Requires-Dist: iopath>=0.1.7\n' in meta
    assert 'Requires-Dist: tensorboard; extra == "all"' in meta
    assert 'Tag: py3-none-any' in read[repack.OUT_INFO + 'WHEEL'] and 'Root-Is-Purelib: true' in read[
        repack.OUT_INFO + 'WHEEL']
    assert read[repack.OUT_INFO + 'top_level.txt'] == 'detectron2\n'
    record = read[repack.OUT_INFO + 'RECORD'].splitlines()
    assert len(record) == len(names) and all(line.split(',')[0] in names for line in record)
    with pytest.raises(RuntimeError, match='sha256'):  # our fake is not the file the registry serves
        repack.check_source(str(source))


def test_the_installed_detectron2_is_the_pure_python_repack():
    if importlib.util.find_spec('detectron2') is None:
        pytest.skip('Detectron2 is not installed (`make setup` installs it unless MIXSKD_SKIP_DETECTRON2 is set)')
    from importlib.metadata import PackageNotFoundError, version
    try:
        installed = version('sal-detectron2')
    except PackageNotFoundError:
        pytest.skip('Detectron2 installed from elsewhere (not the repacked sal-detectron2)')
    assert installed == _load_repack().OUT_VERSION
    assert importlib.util.find_spec('detectron2._C') is None
    import detectron2.layers.mask_ops as mask_ops
    assert 'copy=False' not in open(mask_ops.__file__, encoding='utf-8').read()
