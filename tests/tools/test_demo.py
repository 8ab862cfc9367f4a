"""`tools/demo.py --quick` runs the real tools end to end and writes its report."""
import json

from _helpers import run_tool


def test_quick_demo_writes_report_and_results(tmp_path, fake_fashion_mnist):
    out = tmp_path / 'demo'
    proc = run_tool('tools/demo.py', '--quick', '--out', str(out), '--data-root', fake_fashion_mnist,
                    '--per-class', '4')
    results = json.loads((out / 'results.json').read_text())
    assert set(results['summary']) == {'CE', 'MixSKD'}
    assert all(0 <= row['top1_mean'] <= 100 for row in results['summary'].values())
    report = (out / 'report.md').read_text()
    assert '| CE |' in report and '| MixSKD |' in report
    assert '| method | backbone top-1 (%)' in proc.stdout
    for run in results['runs']:
        assert (out / run['backbone'].split('/')[-1]).is_file()
