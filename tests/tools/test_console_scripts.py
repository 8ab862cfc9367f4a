"""The console scripts of pyproject.toml's ``[project.scripts]``: one per tool, each naming a function that exists,
returns ``None`` (a console script exits with its function's return value as the status) and answers ``--help``;
``python tools/X.py`` runs the same function."""
import importlib
import inspect
import os
import runpy

import pytest
from _helpers import ROOT

tomllib = pytest.importorskip('tomllib', reason='reading pyproject.toml needs Python 3.11 (tomllib)')

#: console script -> the tool in tools/ that runs the same function
TOOLS = {'mixskd-train': 'train.py', 'mixskd-test': 'test.py', 'mixskd-compare': 'compare.py',
         'mixskd-export': 'export_backbone.py', 'mixskd-convert-released': 'convert_released_checkpoint.py',
         'mixskd-demo': 'demo.py', 'mixskd-d2-train': 'd2_train.py', 'mixskd-vis-cam': 'vis_cam.py'}


def console_scripts():
    with open(os.path.join(ROOT, 'pyproject.toml'), 'rb') as f:
        return tomllib.load(f)['project']['scripts']


def entry_function(name):
    module, _, attr = console_scripts()[name].partition(':')
    return getattr(importlib.import_module(module), attr)


def test_each_tool_has_a_console_script():
    assert sorted(console_scripts()) == sorted(TOOLS)


@pytest.mark.parametrize('name', sorted(TOOLS))
def test_console_script_answers_help_and_is_what_the_tool_runs(name, capsys):
    func = entry_function(name)
    assert inspect.signature(func).return_annotation in (None, 'None'), f'{name}: its return value is the exit status'
    with pytest.raises(SystemExit) as stop:
        func(['--help'])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith('usage: ')
    tool = runpy.run_path(os.path.join(ROOT, 'tools', TOOLS[name]), run_name=name)
    assert tool['cli'] is func
