"""Tests of AdversarialFeatureLoss: golden values, gradient reversal, training and checkpointing of discriminators."""
import copy
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import DefaultScope

from mixskd_mm.models.losses import AdversarialFeatureLoss
from mixskd_mm.models.losses.adversarial_feature_loss import grad_reverse
from mixskd_mm.registry import MODELS


def _set_discriminator(disc: nn.Sequential) -> None:
    """Hidden width 1: D(f) = 2 * relu(f_0 - f_1) - 1."""
    with torch.no_grad():
        disc[0].weight.copy_(torch.tensor([[1.0, -1.0]]))
        disc[0].bias.zero_()
        disc[2].weight.copy_(torch.tensor([[2.0]]))
        disc[2].bias.fill_(-1.0)


def _hand_set_loss() -> AdversarialFeatureLoss:
    loss = AdversarialFeatureLoss(in_channels=2, num_exits=1, hidden=1)
    _set_discriminator(loss.discriminators[0])
    return loss


def _maps(requires_grad: bool = False):
    # Channel-constant 2x2 maps: pooled F^ = (3, 1), pooled F~ = (1, 3).
    f_interp = torch.tensor([3.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2).clone()
    f_mixup = torch.tensor([1.0, 3.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2).clone()
    return f_interp.requires_grad_(requires_grad), f_mixup.requires_grad_(requires_grad)


# D(F^) = 2 * relu(2) - 1 = 3 with label 1: ln(1 + e^-3); D(F~) = 2 * relu(-2) - 1 = -1 with label 0: ln(1 + e^-1);
# one BCE mean over the 2B = 2 outputs of both views (the released scale).
GOLDEN = (math.log(1 + math.exp(-3)) + math.log(1 + math.exp(-1))) / 2


def test_grad_reverse_is_identity_forward_and_negates_backward():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = grad_reverse(x)
    assert torch.equal(y, x)
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.equal(x.grad, torch.tensor([-1.0, -2.0, -3.0]))


def test_golden_value_on_maps_and_on_pooled_features():
    f_interp, f_mixup = _maps()
    loss = _hand_set_loss()
    assert loss([f_interp], [f_mixup]).item() == pytest.approx(GOLDEN, rel=1e-6)
    assert loss([f_interp.mean((2, 3))], [f_mixup.mean((2, 3))]).item() == pytest.approx(GOLDEN, rel=1e-6)


def test_golden_value_sums_over_exits():
    loss = AdversarialFeatureLoss(in_channels=3, num_exits=2)
    for disc in loss.discriminators:  # D = ln 3 everywhere: BCE(ln 3, 1) = ln(4/3), BCE(ln 3, 0) = ln 4
        nn.init.zeros_(disc[2].weight)
        nn.init.constant_(disc[2].bias, math.log(3))
    feats = [torch.randn(4, 3, 2, 2) for _ in range(4)]
    # per exit one mean over 8 outputs, half labelled 1 and half 0; summed over the 2 exits
    assert loss(feats[:2], feats[2:]).item() == pytest.approx(2 * (math.log(4 / 3) + math.log(4)) / 2, rel=1e-6)


def _softplus(t):
    """-log sigmoid(-t) = log(1 + e^t): BCE with logits of label 0 (and of label 1 at -t)."""
    return torch.log1p(torch.exp(t))


def _hand_discriminator(disc, feat):
    """relu(pool(F) W1^T + b1) W2^T + b2, one logit per sample."""
    lin1, lin2 = disc[0], disc[2]
    return (torch.relu(feat.mean((2, 3)) @ lin1.weight.T + lin1.bias) @ lin2.weight.T + lin2.bias).squeeze(1)


def test_golden_value_one_mean_over_both_views_per_exit_by_hand():
    """L = sum_k 1/(2B) sum_i [softplus(-d^_ki) + softplus(d~_ki)], random discriminators, every exit non-zero."""
    torch.manual_seed(0)
    b, c, k = 3, 5, 3
    loss = AdversarialFeatureLoss(in_channels=c, num_exits=k, hidden=7)
    interp = [torch.randn(b, c, 2, 2) for _ in range(k)]
    mixup = [torch.randn(b, c, 2, 2) + 1 for _ in range(k)]
    per_exit = []
    with torch.no_grad():
        for disc, f_i, f_m in zip(loss.discriminators, interp, mixup):
            d_interp, d_mixup = _hand_discriminator(disc, f_i), _hand_discriminator(disc, f_m)
            per_exit.append(float((_softplus(-d_interp).sum() + _softplus(d_mixup).sum()) / (2 * b)))
    assert min(per_exit) > 0.1
    assert loss(interp, mixup).item() == pytest.approx(sum(per_exit), rel=1e-6)
    loss.loss_weight = 0.5
    assert loss(interp, mixup).item() == pytest.approx(0.5 * sum(per_exit), rel=1e-6)


def test_features_get_reversed_gradient_and_discriminator_the_plain_one():
    loss = _hand_set_loss()
    disc = copy.deepcopy(loss.discriminators[0])
    f_interp, f_mixup = _maps(requires_grad=True)
    loss([f_interp], [f_mixup]).backward()
    # Manual BCE through an identical discriminator without reversal.
    g_interp, g_mixup = _maps(requires_grad=True)
    logit_interp, logit_mixup = disc(g_interp.mean((2, 3))), disc(g_mixup.mean((2, 3)))
    logits = torch.cat([logit_interp, logit_mixup])  # one mean over both views
    manual = F.binary_cross_entropy_with_logits(logits, torch.cat([torch.ones_like(logit_interp),
                                                                   torch.zeros_like(logit_mixup)]))
    manual.backward()
    assert g_interp.grad.abs().sum() > 0
    torch.testing.assert_close(f_interp.grad, -g_interp.grad)
    torch.testing.assert_close(f_mixup.grad, -g_mixup.grad)
    for p_loss, p_manual in zip(loss.discriminators[0].parameters(), disc.parameters()):
        torch.testing.assert_close(p_loss.grad, p_manual.grad)


def test_sgd_step_trains_discriminators():
    torch.manual_seed(0)
    loss = AdversarialFeatureLoss(in_channels=4, num_exits=2)
    before = copy.deepcopy(loss.state_dict())
    optim = torch.optim.SGD(loss.parameters(), lr=0.1)
    feats = [torch.randn(3, 4, 2, 2, requires_grad=True) for _ in range(4)]
    loss(feats[:2], feats[2:]).backward()
    optim.step()
    assert all(not torch.equal(before[k], v) for k, v in loss.state_dict().items() if k.endswith('weight'))


def test_discriminators_are_registered_and_saved():
    loss = AdversarialFeatureLoss(in_channels=4, num_exits=3, hidden=8)
    keys = set(loss.state_dict())
    for k in range(3):
        assert {f'discriminators.{k}.{i}.{p}' for i in (0, 2) for p in ('weight', 'bias')} <= keys
    model = nn.Module()
    model.loss_adv = loss  # as a submodule of a model, the optimiser built from model.parameters() sees them
    assert sum(p.numel() for p in model.parameters()) == 3 * (4 * 8 + 8 + 8 + 1)


def test_zero_weight_builds_no_discriminators():
    loss = AdversarialFeatureLoss(in_channels=4, num_exits=2, loss_weight=0.0)
    assert list(loss.parameters()) == [] and loss.state_dict() == {}
    feats = [torch.randn(2, 4, 2, 2, requires_grad=True) for _ in range(4)]
    value = loss(feats[:2], feats[2:])
    assert value.item() == 0.0
    value.backward()
    assert all(torch.equal(f.grad, torch.zeros_like(f)) for f in feats)


def test_fp32_under_autocast():
    loss = _hand_set_loss()
    f_interp, f_mixup = _maps()
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        value = loss([f_interp], [f_mixup.bfloat16()])
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(GOLDEN, rel=1e-6)


def test_loss_weight_scales_and_name():
    loss = _hand_set_loss()
    loss.loss_weight = 2.0
    assert loss([_maps()[0]], [_maps()[1]]).item() == pytest.approx(2 * GOLDEN, rel=1e-6)
    assert loss.loss_name == 'loss_adv'


def test_wrong_number_of_exits_raises():
    with pytest.raises(ValueError):
        AdversarialFeatureLoss(in_channels=2, num_exits=2)([torch.zeros(1, 2)], [torch.zeros(1, 2)])


def test_builds_from_registry():
    cfg = dict(in_channels=4, num_exits=2)
    assert isinstance(MODELS.build(dict(type='mixskd_mm.AdversarialFeatureLoss', **cfg)), AdversarialFeatureLoss)
    with DefaultScope.overwrite_default_scope('mixskd_mm'):
        loss = MODELS.build(dict(type='AdversarialFeatureLoss', hidden=16, **cfg))
    assert isinstance(loss, AdversarialFeatureLoss) and len(loss.discriminators) == 2
    assert loss.discriminators[0][0].out_features == 16
