"""`tools/compare.py --init scratch,local-dir:...`: every method from two starts, the source made by our own tools
(the comparison is conftest.py's ``both``)."""
import json
import os
import re

import pytest
from _compare_data import METHODS, NO_INIT, compare
from _helpers import run_tool
from mmengine.config import Config

from mixskd_mm.compare.across import across_verdict
from mixskd_mm.compare.looks import looks_section
from mixskd_mm.compare.report import verdict
from mixskd_mm.compare.robustness_report import verdict_sentences

# its module fixture trains many runs: keep the module's tests on one pytest-xdist worker (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group('compare_full')  # shares conftest's comparison


def test_every_pretrained_run_loads_the_whole_source_and_mixskd_copies_its_exits(both, source):
    out, _ = both
    logs = out / 'starts' / f'local-dir-{os.path.basename(source)}' / 'logs'
    for method in METHODS.split(','):
        for seed in (0, 1):
            log = (logs / f'{method}_seed{seed}.log').read_text()
            found = re.findall(r'loaded \S+model\.safetensors: (\d+)/(\d+) tensors matched', log)
            assert found and found[0][0] == found[0][1], (method, seed)
            assert ("exit_init='copy'" in log) == (method == 'mixskd'), (method, seed)
    for method in METHODS.split(','):
        assert 'tensors matched' not in (out / 'starts' / 'scratch' / 'logs' / f'{method}_seed0.log').read_text()


def test_the_sources_normalisation_reaches_the_data_preprocessor(both, source):
    out, _ = both
    cfg = json.load(open(os.path.join(source, 'config.json')))['pretrained_cfg']
    label = f'local-dir-{os.path.basename(source)}'
    pre = Config.fromfile(str(out / 'starts' / label / 'configs' / 'mixskd_seed0.py')).model.data_preprocessor
    assert pre.mean == [round(m * 255, 4) for m in cfg['mean']] and pre.std == [round(s * 255, 4) for s in cfg['std']]
    data = json.load(open(out / 'data' / 'data.json'))
    scratch = Config.fromfile(str(out / 'starts' / 'scratch' / 'configs' / 'mixskd_seed0.py')).model.data_preprocessor
    assert scratch.mean == data['mean']


def test_report_and_json_name_both_starts_and_the_verdicts_match_the_json(both, source):
    out, proc = both
    results = json.load(open(out / 'results.json'))
    report = (out / 'report.md').read_text()
    sha = results['starts'][1]['sha256']
    assert [s['label'] for s in results['starts']] == ['scratch', f'local-dir-{os.path.basename(source)}']
    assert results['starts'][1]['tensors_matched'] == results['starts'][1]['tensors_total'] > 0
    for name in ('scratch', f'local-dir:{source}', sha[:16]):
        assert name in report, name
    assert results['verdict'] == across_verdict(results['across'], results['verdicts'], results['split'])
    assert results['verdict'] in report and results['verdict'] in proc.stdout
    for label, path in results['results'].items():
        start = json.load(open(out / path))
        robustness = [verdict_sentences(start['robustness'])] if start['robustness'] else []  # further sections
        looks = [sentence for sentence in [looks_section(start['looks'])[1]] if sentence]
        assert start['verdict'] == ' '.join([verdict(start['comparisons'], start['transfer'], start['split'])]
                                            + robustness + looks)
        assert results['verdicts'][label] == start['verdict'] and start['verdict'] in results['verdict']
        assert len(start['runs']) == 10  # every method, 2 seeds
    pairs = [p['pair'] for p in results['across']['pairs']]
    assert any(p.startswith('MixSKD from scratch - CE from local-dir') for p in pairs), pairs


def test_a_changed_start_is_refused(both, folders):
    out, _ = both
    proc = compare('--data', str(folders), '--out', str(out), '--init', 'scratch', '--methods', METHODS,
                   '--seeds', '0', '1', *NO_INIT, check=False)
    assert proc.returncode != 0 and 'init' in proc.stderr and 'other settings' in proc.stderr, proc.stderr


def test_another_architecture_is_refused_before_any_run(folders, source, tmp_path):
    out = tmp_path / 'out'
    args = [a if a != 'test_resnet' else 'resnet10t' for a in NO_INIT]
    proc = compare('--data', str(folders), '--out', str(out), '--init', f'local-dir:{source}', '--methods', 'ce',
                   '--seeds', '0', *args, check=False)
    assert proc.returncode != 0 and "'test_resnet'" in proc.stderr and 'resnet10t' in proc.stderr, proc.stderr
    assert not (out / 'runs').exists() and not (out / 'settings.json').exists()


def test_timm_without_network_or_cache_stops_before_any_run(folders, tmp_path):
    out = tmp_path / 'out'
    proc = run_tool('tools/compare.py', '--data', str(folders), '--out', str(out), '--methods', 'ce', '--seeds', '0',
                    *NO_INIT, check=False, env=dict(HF_HUB_OFFLINE='1', HF_HUB_CACHE=str(tmp_path / 'empty')))
    assert proc.returncode != 0
    for way in ('--init scratch', 'HF_HUB_OFFLINE', 'local-dir:'):
        assert way in proc.stderr, proc.stderr
    assert not (out / 'runs').exists() and not (out / 'settings.json').exists()
