"""Golden-value tests of the shared functional helpers, with expected numbers worked out by hand."""
import math

import pytest
import torch

from mixskd_mm.models.losses.functional import kd_loss, mixed_ce, zero_loss

LN2, LN3 = math.log(2), math.log(3)


def test_kd_loss_golden_value_with_temperature():
    # Logits are T times log-probabilities, so softmax(z / T) is exact: the student is uniform (1/3 each),
    # the teacher's first row is (1/2, 1/4, 1/4) and its second row equals the student's.
    temp = 3.0
    student = torch.zeros(2, 3)
    teacher = torch.tensor([[temp * LN2, 0.0, 0.0], [0.0, 0.0, 0.0]])
    # KL((1/2, 1/4, 1/4) || uniform) = 1/2 ln(3/2) + 2 * 1/4 ln(3/4) = 1/2 ln(9/8); row 2 contributes 0.
    expected = temp**2 * (0.5 * math.log(9 / 8) + 0.0) / 2
    assert kd_loss(student, teacher, temp).item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_direction_is_kl_teacher_to_student():
    # KD(s <- t) uses KL(p_t || p_s): swapping roles gives KL(uniform || (1/2, 1/4, 1/4)) = 1/3 ln(32/27).
    a = torch.zeros(1, 3)
    b = torch.tensor([[LN2, 0.0, 0.0]])
    assert kd_loss(a, b, 1.0).item() == pytest.approx(0.5 * math.log(9 / 8), rel=1e-6)
    assert kd_loss(b, a, 1.0).item() == pytest.approx(math.log(32 / 27) / 3, rel=1e-6)


def test_kd_loss_teacher_gets_no_gradient():
    temp = 2.0
    student = torch.tensor([[0.5, -1.0, 2.0], [1.0, 0.0, 0.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, -1.0]], requires_grad=True)
    kd_loss(student, teacher, temp).backward()
    assert teacher.grad is None
    # d/ds [T^2 * mean_i KL(p_t || softmax(s_i / T))] = T * (p_s - p_t) / B.
    p_s, p_t = torch.softmax(student.detach() / temp, 1), torch.softmax(teacher.detach() / temp, 1)
    torch.testing.assert_close(student.grad, temp * (p_s - p_t) / 2)


def test_kd_loss_is_zero_for_identical_logits():
    z = torch.randn(4, 5)
    assert kd_loss(z, z.clone(), 3.0).item() == 0.0


def test_mixed_ce_golden_value():
    # Row 1 is uniform (p = 1/3 each); row 2 has p = (1/2, 1/4, 1/4).
    logits = torch.tensor([[0.0, 0.0, 0.0], [LN2, 0.0, 0.0]])
    y, y_perm = torch.tensor([0, 1]), torch.tensor([1, 0])
    ce_y = (LN3 + math.log(4)) / 2  # -ln(1/3), -ln(1/4)
    ce_perm = (LN3 + LN2) / 2  # -ln(1/3), -ln(1/2)
    expected = 0.25 * ce_y + 0.75 * ce_perm
    assert mixed_ce(logits, y, y_perm, 0.25).item() == pytest.approx(expected, rel=1e-6)
    assert mixed_ce(logits, y, y_perm, torch.tensor(0.25)).item() == pytest.approx(expected, rel=1e-6)


def test_helpers_compute_in_fp32():
    z16 = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]], dtype=torch.bfloat16)
    t16 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]], dtype=torch.bfloat16)
    y = torch.tensor([2, 0])
    assert kd_loss(z16, t16, 3.0).dtype == torch.float32
    assert kd_loss(z16, t16, 3.0).item() == pytest.approx(kd_loss(z16.float(), t16.float(), 3.0).item(), rel=1e-6)
    assert mixed_ce(z16, y, y.flip(0), 0.5).dtype == torch.float32


def test_zero_loss_keeps_every_input_in_the_graph():
    a, b = torch.randn(2, 3, requires_grad=True), torch.randn(4, requires_grad=True)
    loss = zero_loss([a, b])
    assert loss.item() == 0.0 and loss.dtype == torch.float32
    loss.backward()
    assert torch.equal(a.grad, torch.zeros_like(a)) and torch.equal(b.grad, torch.zeros_like(b))
