"""Golden-value tests of DistributionKDLoss, with expected numbers worked out by hand."""
import math

import pytest
import torch
import torch.nn as nn
from mmengine.registry import DefaultScope

from mixskd_mm.models.losses import DistributionKDLoss
from mixskd_mm.models.losses.functional import kd_loss
from mixskd_mm.registry import MODELS

T = 3.0
# Logits that are T times log-probabilities: softmax(A / T) = (1/3, 1/3, 1/3), softmax(B / T) = (1/2, 1/4, 1/4).
A = torch.zeros(1, 3)
B = torch.tensor([[T * math.log(2), 0.0, 0.0]])
KL_B_A = 0.5 * math.log(9 / 8)  # KL(p_B || p_A) = 1/2 ln(3/2) + 2 * 1/4 ln(3/4)
KL_A_B = math.log(32 / 27) / 3  # KL(p_A || p_B) = 1/3 [ln(2/3) + 2 ln(4/3)]


def test_backbone_exit_is_taught_crosswise():
    # Each view's backbone logits equal its own view's self-teacher: a same-view pairing would give 0,
    # the crosswise pairing KD(z^_K <- t~) + KD(z~_K <- t^) does not.
    loss = DistributionKDLoss(temperature=T)
    value = loss([A], [B], teacher_interp=A, teacher_mixup=B).item()
    assert value == pytest.approx(T**2 * (KL_B_A + KL_A_B), rel=1e-6)
    assert loss([A], [B], teacher_interp=B, teacher_mixup=A).item() == pytest.approx(0.0, abs=1e-7)


def test_backbone_pairing_one_direction():
    # Only z^_K differs from its crosswise teacher t~: the loss is KD(z^_K <- t~) = T^2 KL(p_B || p_A).
    value = DistributionKDLoss(temperature=T)([A], [B], teacher_interp=B, teacher_mixup=B).item()
    assert value == pytest.approx(T**2 * KL_B_A, rel=1e-6)


def test_auxiliary_exits_are_mutual():
    # Exit 1 (auxiliary) has z^_1 = A and z~_1 = B; the backbone exit agrees with both self-teachers.
    loss = DistributionKDLoss(temperature=T)
    value = loss([A, A], [B, A], teacher_interp=A, teacher_mixup=A).item()
    assert value == pytest.approx(T**2 * (KL_B_A + KL_A_B), rel=1e-6)


def test_mutual_terms_send_gradient_only_to_the_student_side():
    z_interp, z_mixup = A.clone().requires_grad_(), B.clone().requires_grad_()
    DistributionKDLoss(temperature=T)([z_interp, A], [z_mixup, A], A, A).backward()
    p_a, p_b = torch.softmax(A / T, 1), torch.softmax(B / T, 1)
    # d/ds KD(s <- t) = T * (p_s - p_t) / batch; no second term from acting as the (detached) teacher.
    torch.testing.assert_close(z_interp.grad, T * (p_a - p_b))
    torch.testing.assert_close(z_mixup.grad, T * (p_b - p_a))


def test_self_teachers_get_no_gradient():
    logits = [torch.randn(4, 5, requires_grad=True) for _ in range(4)]
    t_interp, t_mixup = torch.randn(4, 5, requires_grad=True), torch.randn(4, 5, requires_grad=True)
    DistributionKDLoss()(logits[:2], logits[2:], t_interp, t_mixup).backward()
    assert t_interp.grad is None and t_mixup.grad is None
    assert all(z.grad.abs().sum() > 0 for z in logits)


def test_lam_one_and_identity_permutation_leave_only_the_self_teacher_term():
    # With lam = 1 and p = identity the two views coincide, so every mutual term is exactly 0. The backbone
    # exit is still taught by the self-teacher (a different head): 2 * KD(z_K <- t) remains, and it too
    # vanishes when the self-teacher happens to agree with the backbone classifier.
    torch.manual_seed(0)
    exits, teacher = nn.ModuleList(nn.Linear(6, 5) for _ in range(3)), nn.Linear(6, 5)
    x, lam, perm = torch.randn(4, 6), 1.0, torch.arange(4)
    x_mix = lam * x + (1 - lam) * x[perm]
    interp = [lam * e(x) + (1 - lam) * e(x)[perm] for e in exits]
    mixup = [e(x_mix) for e in exits]
    t_interp, t_mixup = teacher(lam * x + (1 - lam) * x[perm]), teacher(x_mix)
    loss = DistributionKDLoss(temperature=T)
    assert loss(interp, mixup, t_interp, t_mixup).item() == 2 * kd_loss(interp[-1], t_mixup, T).item() > 0
    assert loss(interp, mixup, interp[-1], mixup[-1]).item() == 0.0


def test_loss_weight_scales_and_name():
    loss = DistributionKDLoss(temperature=T, loss_weight=0.5)
    assert loss([A], [B], A, B).item() == pytest.approx(0.5 * T**2 * (KL_B_A + KL_A_B), rel=1e-6)
    assert loss.loss_name == 'loss_kd'


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        DistributionKDLoss(temperature=0.0)
    with pytest.raises(ValueError):
        DistributionKDLoss()([A, A], [A], A, A)


def test_builds_from_registry():
    assert isinstance(MODELS.build(dict(type='mixskd_mm.DistributionKDLoss')), DistributionKDLoss)
    with DefaultScope.overwrite_default_scope('mixskd_mm'):
        loss = MODELS.build(dict(type='DistributionKDLoss', temperature=4.0))
    assert isinstance(loss, DistributionKDLoss) and loss.temperature == 4.0
