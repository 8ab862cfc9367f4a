"""The recipes are found without a checkout root: the checkout's configs/, else the package data .mim/configs."""
import os

import pytest
from _helpers import ROOT

from mixskd_mm.compare.processes import ToolPool
from mixskd_mm.compare.transfer import TASKS
from mixskd_mm.utils import locations

MARKER = os.path.join('_base_', 'default_runtime.py')


def _package(tmp_path, checkout: bool, package_data: bool):
    """A fake layout: tmp/mixskd_mm (the package), with tmp/configs and tmp/tools/train.py for a checkout."""
    package = tmp_path / 'mixskd_mm'
    package.mkdir()
    for where, wanted in ((tmp_path / 'configs', checkout), (package / '.mim' / 'configs', package_data)):
        if wanted:
            (where / '_base_').mkdir(parents=True)
            (where / MARKER).write_text('')
            (where / 'demo').mkdir()
            (where / 'demo' / 'recipe.py').write_text('')
    if checkout:
        (tmp_path / 'tools').mkdir()
        (tmp_path / 'tools' / 'train.py').write_text('')
    return str(package)


def test_in_this_checkout_the_recipes_and_tools_are_the_checkouts():
    assert locations.configs_dir() == os.path.join(ROOT, 'configs')
    assert locations.checkout_dir() == ROOT
    for relative in (task.recipe for task in TASKS.values()):  # the same paths as before: leaves do not change
        assert locations.config_path(relative) == os.path.join(ROOT, 'configs', relative)


def test_an_installed_package_finds_its_package_data(tmp_path, monkeypatch):
    package = _package(tmp_path, checkout=False, package_data=True)
    monkeypatch.setattr(locations, 'PACKAGE_DIR', package)
    assert locations.configs_dir() == os.path.join(package, '.mim', 'configs')
    assert locations.config_path('demo/recipe.py') == os.path.join(package, '.mim', 'configs', 'demo', 'recipe.py')
    assert locations.checkout_dir() is None


def test_a_checkout_comes_before_package_data(tmp_path, monkeypatch):
    package = _package(tmp_path, checkout=True, package_data=True)
    monkeypatch.setattr(locations, 'PACKAGE_DIR', package)
    assert locations.configs_dir() == str(tmp_path / 'configs')
    assert locations.checkout_dir() == str(tmp_path)


def test_missing_configs_and_tools_are_named(tmp_path, monkeypatch):
    package = _package(tmp_path, checkout=False, package_data=False)
    (tmp_path / 'configs').mkdir()  # another project's configs/ beside site-packages' mixskd_mm: not ours
    monkeypatch.setattr(locations, 'PACKAGE_DIR', package)
    with pytest.raises(FileNotFoundError, match=r'mixskd_mm configs not found in .*configs or .*\.mim/configs'):
        locations.configs_dir()
    monkeypatch.setattr('mixskd_mm.compare.processes.checkout_dir', lambda: None)
    with pytest.raises(RuntimeError, match='the tools are in a mixskd_mm checkout'):
        ToolPool(progress=False).run('x', ['tools/train.py', 'cfg.py'], str(tmp_path / 'x.log'))
