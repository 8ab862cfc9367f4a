"""Golden-value tests of OriginalCELoss, with expected numbers worked out by hand."""
import math

import pytest
import torch
from mmengine.registry import DefaultScope

from mixskd_mm.models.losses import OriginalCELoss
from mixskd_mm.registry import MODELS

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)


def _two_exits():
    # Softmax rows: exit 1 = (1/3, 1/3, 1/3) and (1/2, 1/4, 1/4); exit 2 = (1/2, 1/4, 1/4) and (1/3, 1/3, 1/3).
    exit1 = torch.tensor([[0.0, 0.0, 0.0], [LN2, 0.0, 0.0]])
    exit2 = torch.tensor([[LN2, 0.0, 0.0], [0.0, 0.0, 0.0]])
    return [exit1, exit2], torch.tensor([0, 1])


def test_golden_value_sums_batch_means_over_exits():
    logits, y = _two_exits()
    expected = (LN3 + LN4) / 2 + (LN2 + LN3) / 2  # exit 1: -ln(1/3), -ln(1/4); exit 2: -ln(1/2), -ln(1/3)
    assert OriginalCELoss()(logits, y).item() == pytest.approx(expected, rel=1e-6)


def test_loss_weight_scales_and_name():
    logits, y = _two_exits()
    loss = OriginalCELoss(loss_weight=0.5)
    assert loss(logits, y).item() == pytest.approx(0.5 * OriginalCELoss()(logits, y).item(), rel=1e-6)
    assert loss.loss_name == 'loss_ce'


def test_fp32_output_and_gradient_to_every_exit():
    logits = [torch.randn(3, 4, dtype=torch.bfloat16, requires_grad=True) for _ in range(3)]
    loss = OriginalCELoss()(logits, torch.tensor([0, 1, 3]))
    assert loss.dtype == torch.float32
    loss.backward()
    assert all(z.grad is not None and z.grad.abs().sum() > 0 for z in logits)


def test_empty_input_raises():
    with pytest.raises(ValueError):
        OriginalCELoss()([], torch.tensor([0]))


def test_builds_from_registry():
    assert isinstance(MODELS.build(dict(type='mixskd_mm.OriginalCELoss')), OriginalCELoss)
    with DefaultScope.overwrite_default_scope('mixskd_mm'):
        loss = MODELS.build(dict(type='OriginalCELoss', loss_weight=2.0))
    assert isinstance(loss, OriginalCELoss) and loss.loss_weight == 2.0
