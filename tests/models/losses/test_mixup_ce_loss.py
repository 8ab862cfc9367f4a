"""Golden-value tests of MixupCELoss, with expected numbers worked out by hand."""
import math

import pytest
import torch
from mmengine.registry import DefaultScope

from mixskd_mm.models.losses import MixupCELoss
from mixskd_mm.registry import MODELS

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)
LAM = 0.25
Y, Y_PERM = torch.tensor([0, 1]), torch.tensor([1, 0])


def _inputs(requires_grad: bool = False):
    # Softmax rows: exit = (1/3, 1/3, 1/3) and (1/2, 1/4, 1/4); t^ = (1/2, 1/4, 1/4) and uniform; t~ = uniform.
    exit_mix = torch.tensor([[0.0, 0.0, 0.0], [LN2, 0.0, 0.0]], requires_grad=requires_grad)
    t_interp = torch.tensor([[LN2, 0.0, 0.0], [0.0, 0.0, 0.0]], requires_grad=requires_grad)
    t_mixup = torch.zeros(2, 3, requires_grad=requires_grad)
    return [exit_mix], [t_interp, t_mixup]


# Mixed CE = lam * CE(z, y) + (1 - lam) * CE(z, y[p]), each CE the mean of -ln p over the two rows.
MCE_EXIT = LAM * (LN3 + LN4) / 2 + (1 - LAM) * (LN3 + LN2) / 2
MCE_T_INTERP = LAM * (LN2 + LN3) / 2 + (1 - LAM) * (LN4 + LN3) / 2
MCE_T_MIXUP = LN3


def test_golden_value_with_self_teacher():
    mixup_logits, teacher_logits = _inputs()
    loss = MixupCELoss()(mixup_logits, teacher_logits, Y, Y_PERM, LAM)
    assert loss.item() == pytest.approx(MCE_EXIT + MCE_T_INTERP + MCE_T_MIXUP, rel=1e-6)


def test_golden_value_without_self_teacher():
    mixup_logits, teacher_logits = _inputs()
    loss = MixupCELoss(include_self_teacher=False)(mixup_logits, teacher_logits, Y, Y_PERM, torch.tensor(LAM))
    assert loss.item() == pytest.approx(MCE_EXIT, rel=1e-6)


def test_lam_one_is_plain_cross_entropy_on_y():
    mixup_logits, teacher_logits = _inputs()
    loss = MixupCELoss(include_self_teacher=False)(mixup_logits, teacher_logits, Y, Y_PERM, 1.0)
    assert loss.item() == pytest.approx((LN3 + LN4) / 2, rel=1e-6)


def test_self_teacher_is_trained_by_this_term():
    mixup_logits, teacher_logits = _inputs(requires_grad=True)
    MixupCELoss()(mixup_logits, teacher_logits, Y, Y_PERM, LAM).backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in mixup_logits + teacher_logits)


def test_loss_weight_scales_and_name():
    mixup_logits, teacher_logits = _inputs()
    loss = MixupCELoss(loss_weight=0.5)
    assert loss(mixup_logits, teacher_logits, Y, Y_PERM, LAM).item() == pytest.approx(
        0.5 * (MCE_EXIT + MCE_T_INTERP + MCE_T_MIXUP), rel=1e-6)
    assert loss.loss_name == 'loss_mix_ce'


def test_zero_weight_reproduces_cifar_script_and_keeps_graph():
    mixup_logits, teacher_logits = _inputs(requires_grad=True)
    loss = MixupCELoss(loss_weight=0.0)(mixup_logits, teacher_logits, Y, Y_PERM, LAM)
    assert loss.item() == 0.0
    loss.backward()  # every input is reached (with zero gradient), so DDP sees all parameters as used
    assert all(torch.equal(t.grad, torch.zeros_like(t)) for t in mixup_logits + teacher_logits)


def test_empty_input_raises():
    with pytest.raises(ValueError):
        MixupCELoss()([], [], Y, Y_PERM, LAM)


def test_builds_from_registry():
    assert isinstance(MODELS.build(dict(type='mixskd_mm.MixupCELoss')), MixupCELoss)
    with DefaultScope.overwrite_default_scope('mixskd_mm'):
        loss = MODELS.build(dict(type='MixupCELoss', include_self_teacher=False))
    assert isinstance(loss, MixupCELoss) and not loss.include_self_teacher
