"""The description of a comparison (compare.plan), its run records and the task table: built once, frozen."""
import dataclasses
import json

import pytest

from mixskd_mm.compare import cli
from mixskd_mm.compare.plan import Comparison, Settings
from mixskd_mm.compare.results import Candidate, Choice
from mixskd_mm.compare.study import RunKey, Variant, parse_sweep
from mixskd_mm.compare.transfer.common import TASKS, task_of
from mixskd_mm.compare.transfer.runs import FineTune, read_transfers

DATA = dict(classes=['a', 'b', 'c'], splits=dict(train=dict(images=30)), mean=[120.0] * 3, std=[60.0] * 3,
            has_test=False, img_size=64)


def _settings(*extra):
    return Settings.from_args(cli.parse_args(['--data', 'fashion-mnist', '--out', 'out', '--init', 'scratch',
                                              '--batch', '8', '--seeds',
                                              '3', '1', '--sweep', 'model.alpha=0.2,1', *extra]))


def test_recorded_settings_are_what_settings_json_always_held(tmp_path):
    (tmp_path / 'scenes').mkdir()
    (tmp_path / 'fcn.py').write_text('')
    recorded = _settings('--det-data', str(tmp_path / 'scenes'), '--seg-config', str(tmp_path / 'fcn.py'),
                         '--amp').recorded()
    assert recorded == dict(
        data='fashion-mnist', model='resnet18', img_size=None, epochs=30, batch=8, lr=0.00625,
        methods=['ce', 'mixup', 'cutmix', 'mixskd', 'ce-matched'], seeds=[3, 1],
        sweep=['model.alpha=0.2,1'], val_fraction=0.2,
        max_per_class=None, embedded=dict(per_class=500, val_per_class=100, data_root=None), workers=0,
        det_config=None, seg_config=str(tmp_path / 'fcn.py'), det_data=str(tmp_path / 'scenes'), seg_data=None,
        det_iters=300, seg_iters=None, transfer_seeds=None, det_options=[], seg_options=[], amp=True)
    assert list(recorded)[:3] == ['data', 'model', 'img_size'] and 'drop_duplicates' not in recorded


def test_the_comparison_derives_its_values_once_and_is_frozen():
    settings = _settings('--transfer-seeds', '1')
    comparison = Comparison.build(settings, DATA, '/out', jobs=2, channels_last='on')
    p = comparison.pretraining
    assert (p.img_size, p.topk, p.iters_per_epoch, p.lr, p.channels_last) == (64, 3, 4, 0.00625, 'on')
    assert comparison.split == 'val' and comparison.transfer_seeds == (3,)
    assert [v.as_dict() for v in comparison.variants] == [{'model.alpha': 0.2}, {'model.alpha': 1}]
    assert comparison.described() == dict(settings.recorded(), img_size=64, jobs=2, channels_last='on')
    with pytest.raises(dataclasses.FrozenInstanceError):
        comparison.split = 'test'  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.topk = 1  # type: ignore[misc]


def test_a_run_is_named_by_its_key():
    variant = parse_sweep(['model.alpha=0.2'])[0]
    assert RunKey('mixup', variant, 1).name == 'mixup_alpha-0.2_seed1'
    assert RunKey('ce', Variant(), 0).name == 'ce_seed0' and not Variant().as_dict()
    assert RunKey('ce', variant, 0) == RunKey('ce', parse_sweep(['model.alpha=0.2'])[0], 0)  # a dict key


def test_the_first_of_equal_variants_is_chosen():
    a, b = parse_sweep(['model.alpha=0.2,1'])
    choice = Choice('mixup', (Candidate(a, 80.0, 2), Candidate(b, 80.0, 2)))
    assert choice.variant == a
    assert choice.as_json() == dict(setting={'model.alpha': 0.2}, val_top1=80.0, candidates=[
        dict(setting={'model.alpha': 0.2}, val_top1=80.0, seeds=2), dict(setting={'model.alpha': 1}, val_top1=80.0,
                                                                          seeds=2)])


def test_one_task_table():
    assert task_of('det') is task_of('detection') is TASKS['det']
    assert (TASKS['seg'].name, TASKS['seg'].scope, TASKS['seg'].metric_scale) == ('segmentation', 'mmseg', 1.0)
    assert TASKS['det'].metric_scale == 100.0  # mmdet logs AP as a fraction
    with pytest.raises(ValueError, match="task must be 'det' or 'seg'"):
        task_of('cls')


@pytest.mark.parametrize('task, metric, logged, percent', [('det', 'coco/bbox_mAP', 0.25, 25.0),
                                                           ('seg', 'mIoU', 31.5, 31.5)])
def test_a_fine_tune_is_read_back_in_percent_by_its_task(tmp_path, task, metric, logged, percent):
    (tmp_path / 'attempt' / 'vis_data').mkdir(parents=True)
    (tmp_path / 'attempt' / 'vis_data' / 'scalars.json').write_text(json.dumps({metric: logged, 'step': 2}) + '\n')
    fine_tune = FineTune(TASKS[task], RunKey('ce', Variant(), 0), str(tmp_path), 'leaf.py', metric, (),
                         ('tools/train.py', 'leaf.py'))
    [result] = read_transfers([fine_tune])
    assert result.value == percent and not fine_tune.done
    assert result.as_json()['task'] == TASKS[task].name and result.as_json()['flag'] == task
