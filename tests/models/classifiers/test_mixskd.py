"""The MixSKD model: one forward of 2B images, the interpolations, parameter counts, exits, deployment."""
import os

import pytest
import torch
from mmengine.registry import DefaultScope

from mixskd_mm.models.classifiers import ImageClassifier, MixSKD
from mixskd_mm.models.heads import global_pool

TINY = dict(type='TimmStageBackbone', model_name='test_resnet')


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_one_forward_of_2b_images_per_step():
    model = MixSKD(TINY, num_classes=5)
    calls = []
    stem = model.backbone.get_submodule(model.backbone.units[0])
    stem.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    exit_calls = []
    for ex in model.exits:
        ex.register_forward_hook(lambda m, args, out: exit_calls.append(args[0].shape[0]))
    losses = model.loss(torch.randn(6, 3, 32, 32), torch.arange(6) % 5)
    assert calls == [12]  # backbone once, on [x ; x~]
    assert exit_calls == [12] * (model.num_exits - 1)
    assert {'loss_ce', 'loss_mix_ce', 'loss_kd', 'loss_feat', 'loss_adv'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())


def test_interpolations_and_views_match_the_spec(monkeypatch):
    """Feed the loss modules through spies and recompute every input by hand from the same draw."""
    torch.manual_seed(0)
    model = MixSKD(TINY, num_classes=5).eval()  # eval: BatchNorm uses fixed statistics, so views are separable
    lam, perm = torch.tensor(0.3), torch.tensor([2, 0, 3, 1])
    monkeypatch.setattr('mixskd_mm.models.classifiers.mixskd.sample_pairs', lambda b, a, d: (lam, perm))
    seen = {}
    for name in ('kd_loss', 'feat_loss', 'ce_loss'):
        getattr(model, name).register_forward_hook(lambda m, args, out, name=name: seen.__setitem__(name, args))
    x = torch.randn(4, 3, 32, 32)
    y = torch.tensor([0, 1, 2, 3])
    model.loss(x, y)
    x_mix = lam * x + (1 - lam) * x[perm]
    with torch.no_grad():
        f_orig = model.exit_features(x)
        f_mix = model.exit_features(x_mix)
        z_orig = model.exit_logits([global_pool(f) for f in f_orig])
        z_mix = model.exit_logits([global_pool(f) for f in f_mix])
        p_hat = [global_pool(lam * f + (1 - lam) * f[perm]) for f in f_orig]
        t_hat = model.self_teacher(p_hat)
        t_mix = model.self_teacher([global_pool(f) for f in f_mix])
    z_hat_seen, z_mix_seen, t_hat_seen, t_mix_seen = seen['kd_loss']
    for k in range(model.num_exits):
        torch.testing.assert_close(z_hat_seen[k], lam * z_orig[k] + (1 - lam) * z_orig[k][perm])
        torch.testing.assert_close(z_mix_seen[k], z_mix[k])
        torch.testing.assert_close(seen['feat_loss'][0][k], lam * f_orig[k] + (1 - lam) * f_orig[k][perm])
        torch.testing.assert_close(seen['feat_loss'][1][k], f_mix[k])
        torch.testing.assert_close(seen['ce_loss'][0][k], z_orig[k])
    torch.testing.assert_close(t_hat_seen, t_hat)
    torch.testing.assert_close(t_mix_seen, t_mix)


def test_parameter_counts_match_the_released_resnet18():
    """Spec Sec. 2 (the released code): backbone 11.2 M, exits 30.1 M, self-teacher 1.0999 M (no conv bias)."""
    from mmengine.config import Config
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    cfg = Config.fromfile(os.path.join(root, 'configs/_base_/models/mixskd_resnet18_cifar.py')).model  # paper model
    assert cfg.backbone.stem_act is False and cfg.backbone.init == 'torch'
    model = MixSKD(cfg.backbone, num_classes=100)
    backbone = (_count(model.backbone) + _count(model.head)) / 1e6
    exits = (_count(model.exits) + _count(model.exit_heads)) / 1e6
    assert backbone == pytest.approx(11.2, abs=0.05)
    assert exits == pytest.approx(30.1, abs=0.1)
    assert _count(model.self_teacher) == 2048 * 512 + 512 * 100 + 100  # 1.0999 M
    assert _count(model.self_teacher) / 1e6 == pytest.approx(1.0999, abs=5e-5)
    cheap = MixSKD(dict(type='TimmStageBackbone', model_name='resnet18', cifar_stem=True), num_classes=100,
                   exit_type='conv')
    assert _count(cheap.exits) < 0.2 * _count(model.exits)


@pytest.mark.parametrize('name,out_indices', [('resnext26ts', (1, 2, 3, 4)), ('regnetx_002', (1, 2, 3, 4)),
                                              ('convnext_atto', (0, 1, 2, 3)), ('efficientnet_b0', (1, 2, 3, 4)),
                                              ('mobilenetv3_small_100', (1, 2, 3, 4))])
@pytest.mark.parametrize('exit_type', ['replicate', 'conv'])
def test_exits_for_every_family(name, out_indices, exit_type):
    model = MixSKD(dict(type='TimmStageBackbone', model_name=name, out_indices=out_indices), num_classes=3,
                   exit_type=exit_type)
    x = torch.randn(2, 3, 64, 64)
    feats = model.exit_features(x)
    assert len({f.shape for f in feats}) == 1  # every exit ends in a map of the final stage's shape
    losses = model.loss(x, torch.tensor([0, 2]))
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert any(p.grad is not None for p in model.exits[0].parameters())


def test_replicate_exits_are_fresh_unshared_copies():
    model = MixSKD(dict(type='TimmStageBackbone', model_name='resnet18', cifar_stem=True), num_classes=10)
    last_exit = model.exits[-1]  # a copy of layer4
    assert last_exit.layer4.state_dict().keys() == model.backbone.layer4.state_dict().keys()
    assert last_exit.layer4[0].conv1.weight is not model.backbone.layer4[0].conv1.weight
    assert not torch.equal(last_exit.layer4[0].conv1.weight, model.backbone.layer4[0].conv1.weight)


def test_predict_reports_every_exit_and_deployable_has_no_mixskd_parts():
    model = MixSKD(TINY, num_classes=5).eval()
    x = torch.randn(3, 3, 32, 32)
    preds = model.predict(x, torch.tensor([0, 1, 2]))
    assert set(preds[0]['pred_scores']) == {'backbone', 'exit1', 'exit2', 'exit3', 'self_teacher'}
    assert preds[1]['gt_label'] == 1
    deploy = model.to_deployable().eval()
    assert isinstance(deploy, ImageClassifier) and not isinstance(deploy, MixSKD)
    assert not any(k.startswith(('exits', 'exit_heads', 'self_teacher', 'adv_loss')) for k in deploy.state_dict())
    torch.testing.assert_close(torch.softmax(deploy(x), 1)[0], preds[0]['pred_scores']['backbone'])


def test_discriminators_are_registered_trained_and_optional():
    model = MixSKD(TINY, num_classes=5)
    assert any(k.startswith('adv_loss.discriminators') for k in model.state_dict())
    disc = [p for n, p in model.named_parameters() if n.startswith('adv_loss.')]
    before = [p.detach().clone() for p in disc]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = model.loss(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, disc))
    off = MixSKD(TINY, num_classes=5, adv_loss=dict(type='AdversarialFeatureLoss', loss_weight=0))
    assert not any(n.startswith('adv_loss.') for n, _ in off.named_parameters())


def test_built_from_config_in_scope_and_baselines():
    with DefaultScope.overwrite_default_scope('mixskd_mm'):
        from mixskd_mm.registry import MODELS
        model = MODELS.build(dict(type='MixSKD', backbone=TINY, num_classes=4, alpha=0.2,
                                  mix_ce_loss=dict(type='MixupCELoss', loss_weight=0)))
        assert model.loss(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))['loss_mix_ce'].item() == 0
        for mix, key in ((None, 'loss_ce'), ('mixup', 'loss_mixup_ce'), ('cutmix', 'loss_cutmix_ce')):
            base = MODELS.build(dict(type='ImageClassifier', backbone=TINY, num_classes=4, mix=mix))
            out = base.loss(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))
            assert list(out) == [key] and torch.isfinite(out[key])


@pytest.mark.parametrize('mode', [True, 'selective'])
def test_recomputation_gives_the_same_losses_gradients_and_running_stats(mode):
    torch.manual_seed(0)
    plain = MixSKD(TINY, num_classes=5)
    cp = MixSKD(dict(TINY, with_cp=mode), num_classes=5, exit_with_cp=mode)
    cp.load_state_dict(plain.state_dict())
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    values = []
    for model in (plain, cp):
        torch.manual_seed(1)  # the same Mixup draw
        losses = model.loss(x, y)
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        values.append(losses)
    for key in values[0]:
        torch.testing.assert_close(values[0][key], values[1][key], msg=key)
    for (name, a), b in zip(plain.named_parameters(), cp.parameters()):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, msg=name, rtol=1e-4, atol=1e-6)
    if mode == 'selective':  # full recomputation reruns batch norm, updating its statistics twice (as mmdet's)
        for (name, a), b in zip(plain.named_buffers(), cp.buffers()):
            torch.testing.assert_close(a, b, msg=name, rtol=0, atol=0)
