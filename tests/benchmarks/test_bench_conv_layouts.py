"""Smoke test of ``benchmarks/bench_conv_layouts.py``: both layouts timed per stage shape (no timing checks)."""
import os
import sys

from _helpers import ROOT, run_tool


def test_prints_every_stage_shape_with_its_faster_layout():
    proc = run_tool('benchmarks/bench_conv_layouts.py', '--batch', '2', '--img-size', '16', '--calls', '1',
                    '--threads', '1')
    rows = [line.split() for line in proc.stdout.splitlines() if ' ch ' in line]
    # 64 channels on 16 x 16 maps, 128 on 8 x 8, 256 on 4 x 4, 512 on 2 x 2
    assert [r[:3] for r in rows] == [['64', 'ch', '16x16'], ['128', 'ch', '8x8'], ['256', 'ch', '4x4'],
                                     ['512', 'ch', '2x2']]
    for r in rows:
        assert all(len(cell.split('/')) == 3 for cell in r[3:5])  # forward / grad input / grad weight, per layout
        assert r[5] in ('channels-last', 'contiguous') and float(r[6]) > 0


def test_the_faster_layout_agrees_with_the_time_ratio():
    sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
    from bench_conv_layouts import main
    rows = main(['--batch', '2', '--img-size', '8', '--calls', '1', '--threads', '1'])
    assert [(r['channels'], r['size']) for r in rows] == [(64, 8), (128, 4), (256, 2), (512, 1)]
    for r in rows:
        assert set(r['speeds']) == {'channels-last', 'contiguous'}
        assert all(v > 0 for speeds in r['speeds'].values() for v in speeds.values())
        assert (r['faster'] == 'channels-last') == (r['cl_vs_contiguous'] <= 1)
