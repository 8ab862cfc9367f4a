"""Golden-value tests of FeatureMapL2Loss, with expected numbers worked out by hand."""
import pytest
import torch
import torch.nn as nn
from mmengine.registry import DefaultScope

from mixskd_mm.models.losses import FeatureMapL2Loss
from mixskd_mm.registry import MODELS


def _two_exits(requires_grad: bool = False):
    interp = [torch.zeros(1, 1, 2, 2), torch.ones(1, 2, 1, 1)]
    mixup = [torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]), torch.ones(1, 2, 1, 1)]
    return [f.requires_grad_(requires_grad) for f in interp], [f.requires_grad_(requires_grad) for f in mixup]


def test_golden_value_element_mean_summed_over_exits():
    interp, mixup = _two_exits()
    # Exit 1: (1 + 4 + 9 + 16) / 4 = 7.5; exit 2: identical maps, 0.
    assert FeatureMapL2Loss()(interp, mixup).item() == pytest.approx(7.5, rel=1e-6)


def test_both_sides_receive_gradient():
    interp, mixup = _two_exits(requires_grad=True)
    FeatureMapL2Loss()(interp, mixup).backward()
    # d/dF^ mean((F^ - F~)^2) = 2 (F^ - F~) / N with N = 4 elements, and the negative of it for F~.
    expected = torch.tensor([[[[-0.5, -1.0], [-1.5, -2.0]]]])
    torch.testing.assert_close(interp[0].grad, expected)
    torch.testing.assert_close(mixup[0].grad, -expected)


def test_zero_when_lam_is_one_and_permutation_is_identity():
    torch.manual_seed(0)
    exits = nn.ModuleList(nn.Conv2d(3, 4, 3, padding=1) for _ in range(3))
    x, lam, perm = torch.randn(2, 3, 5, 5), 1.0, torch.arange(2)
    x_mix = lam * x + (1 - lam) * x[perm]
    interp = [lam * e(x) + (1 - lam) * e(x)[perm] for e in exits]
    mixup = [e(x_mix) for e in exits]
    assert FeatureMapL2Loss()(interp, mixup).item() == 0.0


def test_fp32_output():
    interp = [torch.randn(2, 3, 2, 2, dtype=torch.bfloat16)]
    mixup = [torch.randn(2, 3, 2, 2, dtype=torch.bfloat16)]
    assert FeatureMapL2Loss()(interp, mixup).dtype == torch.float32


def test_loss_weight_scales_and_name():
    interp, mixup = _two_exits()
    loss = FeatureMapL2Loss(loss_weight=2.0)
    assert loss(interp, mixup).item() == pytest.approx(15.0, rel=1e-6)
    assert loss.loss_name == 'loss_feat'


def test_invalid_inputs_raise():
    interp, mixup = _two_exits()
    with pytest.raises(ValueError):
        FeatureMapL2Loss()(interp, mixup[:1])
    with pytest.raises(ValueError):
        FeatureMapL2Loss()(interp[:1], mixup[1:])


def test_builds_from_registry():
    assert isinstance(MODELS.build(dict(type='mixskd_mm.FeatureMapL2Loss')), FeatureMapL2Loss)
    with DefaultScope.overwrite_default_scope('mixskd_mm'):
        loss = MODELS.build(dict(type='FeatureMapL2Loss', loss_weight=0.5))
    assert isinstance(loss, FeatureMapL2Loss) and loss.loss_weight == 0.5
