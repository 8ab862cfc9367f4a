"""Compute-matched baselines: the counted multiply-adds of a training step, the epochs that follow from them, and
``ce-matched`` end to end through tools/compare.py."""
import json

import pytest
import torch
from _compare_data import TINY, compare, write_class_folders
from mmengine.config import Config
from torch.utils.flop_counter import FlopCounterMode

from mixskd_mm.compare import compute
from mixskd_mm.compare.cli import parse_args
from mixskd_mm.compare.compute import match_compute, matched_epochs, step_macs
from mixskd_mm.compare.configs import Pretraining, model_config
from mixskd_mm.registry import MODELS

DATA = dict(classes=['a', 'b', 'c'], mean=[120.0] * 3, std=[60.0] * 3, splits=dict(train=dict(images=24)))


def _pretraining(epochs=4, img_size=16):
    return Pretraining.on(DATA, model='test_resnet', img_size=img_size, epochs=epochs, batch=8, lr=0.01, workers=0)


def _count_by_hand(model_cfg, img_size, batch=4):
    """The multiply-adds of one step counted here, on a batch of another size (the count is per image)."""
    cfg = {k: v for k, v in model_cfg.items() if k != 'data_preprocessor'}
    model = MODELS.build(dict(cfg, type=f'mixskd_mm.{cfg["type"]}')).train()
    with FlopCounterMode(display=False) as counter:
        losses = model(torch.rand(batch, 3, img_size, img_size), torch.tensor([0, 1, 2, 0][:batch]), mode='loss')
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    return counter.get_total_flops() / 2 / batch


def test_step_count_is_per_image_and_includes_the_backward():
    ce = model_config('ce', 'test_resnet', 3, [0] * 3, [1] * 3)
    macs = step_macs(ce, 16)
    assert macs == pytest.approx(_count_by_hand(ce, 16))  # per image: the batch size cancels
    model = MODELS.build(dict({k: v for k, v in ce.items() if k != 'data_preprocessor'},
                              type='mixskd_mm.ImageClassifier')).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(2, 3, 16, 16))
    forward = counter.get_total_flops() / 2 / 2
    assert 2.5 * forward < macs < 3.5 * forward  # forward + backward (input and weight gradients) ~ 3 forwards


def test_mixskd_step_costs_more_and_epochs_follow_the_ratio():
    mixskd = step_macs(model_config('mixskd', 'test_resnet', 3, [0] * 3, [1] * 3), 16)
    ce = step_macs(model_config('ce', 'test_resnet', 3, [0] * 3, [1] * 3), 16)
    assert mixskd > 2 * ce  # two forwards (original and mixed images) plus exits
    assert matched_epochs(10, mixskd, ce) == round(10 * mixskd / ce)
    assert matched_epochs(10, 104, 100) == 10  # rounds to the nearest whole epoch
    assert matched_epochs(10, 90, 100) == 10  # never fewer epochs: stretched, not cut
    assert matched_epochs(3, 48, 10) == 14


def test_counts_are_recorded_and_reused(tmp_path, monkeypatch):
    match = match_compute(['ce', 'mixskd', 'ce-matched'], DATA, _pretraining(), str(tmp_path))
    recorded = json.loads((tmp_path / 'compute.json').read_text())
    assert recorded['macs'] == dict(match.macs) and recorded['matched_epochs'] == {'ce-matched': match.matched_epochs[
        'ce-matched']}
    monkeypatch.setattr(compute, 'step_macs', lambda *a, **k: pytest.fail('counted again'))
    assert match_compute(['ce', 'mixskd', 'ce-matched'], DATA, _pretraining(), str(tmp_path)) == match
    monkeypatch.undo()
    other = match_compute(['ce', 'mixskd', 'ce-matched'], DATA, _pretraining(img_size=24), str(tmp_path))
    assert other.img_size == 24 and other.macs['ce'] > match.macs['ce']  # another crop size is counted anew


def test_matched_methods_need_a_mixskd_method(tmp_path):
    assert match_compute(['ce', 'mixskd'], DATA, _pretraining(), str(tmp_path)) is None
    with pytest.raises(ValueError, match='need mixskd'):
        match_compute(['ce', 'ce-matched'], DATA, _pretraining(), str(tmp_path))
    with pytest.raises(SystemExit, match='add mixskd'):
        parse_args(['--data', 'fashion-mnist', '--methods', 'ce,ce-matched'])
    assert 'ce-matched' in parse_args(['--data', 'fashion-mnist']).methods  # in the default methods


def test_ce_matched_end_to_end(tmp_path):
    data = write_class_folders(tmp_path / 'data', per_class=(6, 3))
    out = tmp_path / 'out'
    proc = compare('--data', str(data), '--out', str(out), '--methods', 'ce,mixskd,ce-matched', '--seeds', '0',
                   *TINY)
    results = json.loads((out / 'results.json').read_text())
    configs = {m: Config.fromfile(str(out / 'configs' / f'{m}_seed0.py')) for m in ('ce', 'mixskd', 'ce-matched')}
    size = results['settings']['img_size']
    macs = {m: _count_by_hand(configs[m].model.to_dict(), size) for m in ('ce', 'mixskd')}
    assert results['compute']['macs'] == pytest.approx(macs)  # the runs' own models, counted independently
    epochs = max(1, round(1 * macs['mixskd'] / macs['ce']))
    assert epochs > 1
    matched = configs['ce-matched']
    assert matched.train_cfg.max_epochs == epochs == results['compute']['matched_epochs']['ce-matched']
    assert matched.param_scheduler[-1]['end'] == epochs  # the whole schedule stretched to the matched length
    assert matched.model == configs['ce'].model  # CE, only longer
    assert (out / 'runs' / 'ce-matched_seed0' / f'epoch_{epochs}.pth').is_file()
    pair = next(p for p in results['comparisons'] if p['baseline'] == 'ce-matched')
    assert pair['method'] == 'mixskd'
    assert 'over CE at equal compute' in results['verdict']
    assert f'CE at equal compute trained {epochs} epochs to MixSKD\'s 1' in results['verdict']
    report = (out / 'report.md').read_text()
    assert '## Equal compute' in report and 'CE at equal compute' in proc.stdout
