"""Smoke test of ``benchmarks/bench_train_step.py``: it runs end to end and writes its JSON (no timing checks)."""
import json

import pytest
from _helpers import run_tool


def test_bench_train_step_writes_all_variants(tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_tool('benchmarks/bench_train_step.py', '--model', 'test_resnet', '--no-cifar-stem', '--batch', '8',
                    '--img-size', '64', '--num-classes', '10', '--steps', '2', '--warmup', '1', '--profile',
                    '--json', str(out))
    report = json.loads(out.read_text())
    assert set(report['variants']) == {'ce', 'ce-2b', 'replicate', 'conv', 'replicate-lowmem', 'replicate-ref'}
    for name, r in report['variants'].items():
        assert name in proc.stdout
        assert len(r['ms_step_all']) == 2
        for key in ('params_m', 'ms_step', 'images_per_s', 'peak_mib', 'fwd_gmacs', 'time_ratio', 'memory_ratio',
                    'time_vs_ref', 'macs_vs_ref'):
            assert r[key] > 0, (name, key, r[key])
    variants = report['variants']
    # the defaults of tools/train.py and the configs, against the step before them
    assert variants['replicate']['settings'] == dict(channels_last=True, malloc='pinned', amp=False)
    assert variants['replicate-ref']['settings'] == dict(channels_last=False, malloc='default', amp=False)
    assert variants['replicate']['macs_vs_ref'] == pytest.approx(1.0)
    assert variants['replicate-ref']['time_vs_ref'] == 1.0
    assert 'cpu bf16 flags:' in proc.stdout and isinstance(report['cpu_bf16']['native_bf16'], bool)
    # the MixSKD networks are bigger and run on 2B images: more parameters, memory and multiply-adds than CE
    for name in ('replicate', 'conv'):
        for key in ('params_m', 'peak_mib', 'fwd_gmacs'):
            assert variants[name][key] > variants['ce'][key], (name, key)
    assert variants['ce-2b']['fwd_gmacs'] == pytest.approx(2 * variants['ce']['fwd_gmacs'])  # CE on 2B images
    # selective recomputation: the same network and arithmetic, less memory
    lowmem, replicate = variants['replicate-lowmem'], variants['replicate']
    assert lowmem['params_m'] == replicate['params_m'] and lowmem['fwd_gmacs'] == replicate['fwd_gmacs']
    assert lowmem['peak_mib'] < 0.95 * replicate['peak_mib']
    # --profile: every step spends time in convolutions and normalisation; the classes add up to the total
    for name, r in variants.items():
        prof = r['profile']
        assert prof['conv'] > 0 and prof['norm'] > 0, (name, prof)
        assert prof['conv'] + prof['norm'] + prof['other'] == pytest.approx(prof['total'])
        assert prof['conv_vs_ce_step'] == pytest.approx(prof['conv'] / variants['ce']['profile']['total'])
    assert 'conv vs CE step' in proc.stdout
    infer = report['inference']
    assert infer['deployable']['ms_forward'] > 0 and infer['timm']['ms_forward'] > 0
    assert infer['max_abs_output_diff'] < 1e-4  # same weights, same network: the exported model is timm's


def test_auto_layout_variants_run_with_their_setting(tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_tool('benchmarks/bench_train_step.py', '--model', 'test_resnet', '--no-cifar-stem', '--batch', '4',
                    '--img-size', '32', '--num-classes', '5', '--steps', '2', '--warmup', '1',
                    '--runs', 'replicate-auto,conv-auto,replicate-ref', '--json', str(out))
    variants = json.loads(out.read_text())['variants']
    for name in ('replicate-auto', 'conv-auto'):
        assert variants[name]['settings'] == dict(channels_last='auto', malloc='pinned', amp=False)
        assert variants[name]['time_vs_ref'] > 0
    assert 'auto/pinned/fp32' in proc.stdout
    assert variants['replicate-auto']['fwd_gmacs'] == pytest.approx(variants['replicate-ref']['fwd_gmacs'])
