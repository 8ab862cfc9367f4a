"""`tools/compare.py --tune` end to end on a tiny class-folder dataset, CE and MixSKD, 3 trials each:

1. ``--print-commands`` and ``--collect`` before any trial: the tuning's command, and a refusal naming what is missing;
2. an earlier MixSKD trial that scored 100 % at every epoch is put in the study, so every MixSKD trial the tool runs
   is hopeless and must be pruned by the hook after its first epoch;
3. the test split is hidden (its images moved away, its list replaced by a folder: a read fails, even as root);
4. ``--tune-only`` is SIGKILLed (its whole process group) once the journal shows a trial it finished, then rerun;
5. the test split is put back and the comparison runs to its report.
"""
import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from _compare_data import compare, write_class_folders
from _helpers import ROOT, tool_env
from mmengine.config import Config

from mixskd_mm.compare import cli
from mixskd_mm.compare.results import score_metrics
from mixskd_mm.compare.tune.spaces import distributions, space
from mixskd_mm.compare.tune.studies import load_study

pytestmark = pytest.mark.xdist_group('compare_tune')

LR = 0.01
ARGS = ['--methods', 'ce,mixskd', '--seeds', '0', '--tune', '3', '--epochs', '2', '--lr', str(LR), '--img-size', '16',
        '--model', 'test_resnet', '--batch', '8', '--init', 'scratch', '--no-progress', '--jobs', '1']
#: the earlier MixSKD trial put in the study: the method's defaults, 100 % at every epoch
PERFECT = dict(lr=LR, alpha=0.4, temperature=3.0, mix_ce_weight=1.0, kd_weight=1.0, feat_weight=1.0, adv_weight=1.0)


def _trials(out, method):
    return load_study(str(out), method, 3, 2).get_trials()


def _finished(out):
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return {(m, t.number): t.state.name for m in ('ce', 'mixskd') for t in _trials(out, m) if t.state in done}


def _attempts(out, name):
    """How many times tools/train.py was started for a trial (the pool appends a '$ python' line per attempt)."""
    path = out / 'tune' / 'logs' / f'{name}.log'
    return path.read_text().count('$ python tools/train.py') if path.exists() else 0


def _hide_test_split(data, out, hide):
    """Move the test images away and put a folder where the test list was (open() of a folder fails, whoever runs
    the test), or put both back."""
    images, listed = (data / 'test', data / 'test.hidden'), (out / 'data' / 'test.txt', out / 'data' / 'test.hidden')
    if hide:
        for a, b in (images, listed):
            os.rename(a, b)
        listed[0].mkdir()
    else:
        listed[0].rmdir()
        for a, b in (images, listed):
            os.rename(b, a)


def _kill_after_a_finished_trial(out, before):
    proc = subprocess.Popen([sys.executable, 'tools/compare.py', '--data', str(out.parent / 'data'), '--out', str(out),
                             *ARGS, '--tune-only'], cwd=ROOT, env=tool_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    try:
        while len(_finished(out)) == len(before):
            assert proc.poll() is None and time.time() < deadline, 'the tuning ended or stalled, no trial done'
            time.sleep(0.5)
        finished = _finished(out)
        running = {(m, t.number) for m in ('ce', 'mixskd') for t in _trials(out, m)
                   if t.state == optuna.trial.TrialState.RUNNING}
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return finished, running


@pytest.fixture(scope='module')
def tuned(tmp_path_factory):
    root = tmp_path_factory.mktemp('tune')
    data, out = write_class_folders(root / 'data'), root / 'out'
    given = ['--data', str(data), '--out', str(out), *ARGS]
    printed = compare(*given, '--print-commands')
    collected = compare(*given, '--collect', check=False)
    ran_before = (out / 'tune' / 'runs').exists()
    study = load_study(str(out), 'mixskd', 3, 2)
    study.add_trial(optuna.trial.create_trial(params=PERFECT, distributions=distributions('mixskd', LR), value=100.0,
                                              intermediate_values={1: 100.0, 2: 100.0}))
    before = _finished(out)
    _hide_test_split(data, out, hide=True)
    at_kill, running_at_kill = _kill_after_a_finished_trial(out, before)
    compare(*given, '--tune-only')
    tuning_done = _finished(out)
    _hide_test_split(data, out, hide=False)
    full = compare(*given)
    return dict(out=out, printed=printed, collected=collected, ran_before=ran_before, at_kill=at_kill,
                running_at_kill=running_at_kill, tuning_done=tuning_done, full=full,
                results=json.loads((out / 'results.json').read_text()), report=(out / 'report.md').read_text())


def test_print_commands_and_collect_before_the_tuning_run_nothing_and_say_what_to_do(tuned):
    line = next(x for x in tuned['printed'].stdout.splitlines() if x.startswith('python tools/compare.py'))
    assert '--tune 3' in line and line.endswith('--tune-only') and '--print-commands' not in line
    assert 'ce: 0 of 3 trials finished' in tuned['printed'].stdout and not tuned['ran_before']
    assert tuned['collected'].returncode != 0
    assert 'the tuning has not finished (ce: 0 of 3 trials finished' in tuned['collected'].stderr


def test_every_method_gets_the_same_number_of_finished_trials(tuned):
    for method in ('ce', 'mixskd'):
        states = [t.state.name for t in _trials(tuned['out'], method)]
        assert len(states) == 3 and set(states) <= {'COMPLETE', 'PRUNED'}, (method, states)  # none repeated or failed
        assert tuned['results']['tuning']['methods'][method]['finished'] == 3


def test_the_hook_prunes_a_hopeless_trial_after_its_first_epoch(tuned):
    out = tuned['out']
    for t in _trials(out, 'mixskd')[1:]:  # every trial the tool ran was behind the perfect one
        assert t.state.name == 'PRUNED' and list(t.intermediate_values) == [1], t
        marker = json.loads((out / 'tune' / 'runs' / f'mixskd_trial{t.number}' / 'pruned.json').read_text())
        assert marker['epoch'] == 1 and marker['value'] == pytest.approx(t.intermediate_values[1])
    assert tuned['results']['tuning']['methods']['mixskd']['pruned'] == 2


def test_a_killed_tuning_resumes_without_repeating_finished_trials(tuned):
    out, at_kill = tuned['out'], tuned['at_kill']
    assert len(at_kill) >= 2 and tuned['running_at_kill']  # the perfect trial and one the tool finished; one running
    for (method, number), state in at_kill.items():
        assert tuned['tuning_done'][(method, number)] == state  # kept as it was
        if number or method == 'ce':
            assert _attempts(out, f'{method}_trial{number}') == 1, (method, number)
    for key in tuned['running_at_kill']:
        assert key in tuned['tuning_done']  # the trial left running was taken over and finished, under its number


def test_the_test_split_is_never_read_during_tuning(tuned):
    out = tuned['out']
    configs = sorted((out / 'tune' / 'configs').glob('*.py'))
    assert len(configs) == 5  # 3 CE trials + the 2 MixSKD trials the tool ran
    for path in configs:
        cfg = Config.fromfile(str(path))
        assert not {'test_dataloader', 'test_evaluator', 'test_cfg'} & set(cfg.keys()), path
        assert 'test.txt' not in path.read_text()
    assert not list((out / 'tune').rglob('test_scores.npz'))
    # the tuning ran with the test split hidden (a read would have failed it); the seed runs read it once each
    assert sorted(p.parent.name for p in (out / 'runs').rglob('test_scores.npz')) == ['ce_tuned_seed0',
                                                                                       'mixskd_tuned_seed0']


def test_the_seed_runs_train_each_methods_best_setting(tuned):
    out, results = tuned['out'], tuned['results']
    for method in ('ce', 'mixskd'):
        values = {}
        for t in _trials(out, method):
            scores = out / 'tune' / 'runs' / f'{method}_trial{t.number}' / 'val_scores.npz'
            if t.state.name == 'COMPLETE':  # the perfect trial has no files: its value is the journal's
                values[t.number] = score_metrics(str(scores), 1)['top1'] if scores.exists() else t.value
        best = _trials(out, method)[max(values, key=values.get)]
        setting = {p.key: best.params[p.name] for p in space(method)}
        assert results['tuning']['methods'][method]['best']['setting'] == setting
        assert results['chosen'][method]['setting'] == setting
        cfg = Config.fromfile(str(out / 'configs' / f'{method}_tuned_seed0.py'))
        assert cfg.optim_wrapper.optimizer.lr == pytest.approx(setting['optim_wrapper.optimizer.lr'])
        if method == 'mixskd':
            assert best.number == 0 and cfg.model.kd_loss.temperature == 3.0 and cfg.model.alpha == 0.4
    assert [r['name'] for r in results['runs']] == ['ce_tuned_seed0', 'mixskd_tuned_seed0']


def test_report_json_and_verdict_carry_the_tuning_from_the_trials_files(tuned):
    out, results, report = tuned['out'], tuned['results'], tuned['report']
    tuning = results['tuning']
    for method, m in tuning['methods'].items():
        for row in m['trials']:
            scores = out / 'tune' / 'runs' / f'{method}_trial{row["number"]}' / 'val_scores.npz'
            if row['state'] == 'complete' and scores.exists():
                assert row['source'] == 'files' and row['val_top1'] == score_metrics(str(scores), 1)['top1']
        assert m['optimum']['shape'] in ('sharp', 'flat', 'undecided')
    assert '## Tuning (Optuna, validation only)' in report and 'Sharp or flat optimum? Rule:' in report
    for param in space('mixskd'):
        assert f'`{param.key}`' in report
    assert 'mix_ce_weight=1, kd_weight=1' in report  # MixSKD's best: the perfect trial
    assert 'tuning.png' in results['plots'] and (out / 'tuning.png').stat().st_size > 1000
    assert 'chosen by 3 Optuna trials on validation data' in results['verdict'] in report
    assert 'Optuna trials' in tuned['full'].stdout


@pytest.mark.parametrize('extra, message', [
    (['--tune', '3', '--sweep', 'model.alpha=0.2,1'], 'choose one way of choosing'),
    (['--tune-only'], '--tune-only runs the trials of --tune N'),
    (['--tune', '0'], '--tune 0: expected an integer >= 1'),
])
def test_tune_options_are_refused_with_the_reason(extra, message):
    with pytest.raises(SystemExit, match=message):
        cli.parse_args(['--data', 'fashion-mnist', '--model', 'test_resnet', *extra])
