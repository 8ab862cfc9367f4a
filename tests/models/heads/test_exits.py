"""Auxiliary exits: shapes, errors, and what the cheap exit costs next to the backbone and replicated tails."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mixskd_mm.models.classifiers import MixSKD
from mixskd_mm.models.heads import ConvExit


@pytest.mark.parametrize('ratio,size', [(8, 4), (4, 8), (2, 16), (1, 32)])
def test_conv_exit_reaches_the_final_stride_and_channels(ratio, size):
    exit_module = ConvExit(64, 512, ratio)
    assert exit_module(torch.zeros(2, 64, 32, 32)).shape == (2, 512, size, size)
    assert len(exit_module) == max(1, ratio.bit_length() - 1)  # one block per halving


def test_conv_exit_rejects_a_stride_ratio_that_is_not_a_power_of_two():
    with pytest.raises(ValueError, match='power of two, got 6'):
        ConvExit(64, 512, 6)


def _gmacs(fn, *args) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops() / 2e9


def test_conv_exits_cost_a_small_fraction_of_an_imagenet_resnet50():
    """The cheap exits' reason to exist: ResNet-50 at 224x224, backbone 4.1 GMACs, replicated tails 6.4."""
    x = torch.zeros(1, 3, 224, 224)
    costs = {}
    for exit_type in ('conv', 'replicate'):
        model = MixSKD(dict(type='TimmStageBackbone', model_name='resnet50'), num_classes=10, exit_type=exit_type)
        model.eval()
        feats = model.backbone(x)
        costs['backbone'] = _gmacs(model.backbone, x)
        costs[exit_type] = sum(_gmacs(e, f) for e, f in zip(model.exits, feats[:-1]))
    assert costs['backbone'] == pytest.approx(4.1, abs=0.1)
    assert costs['replicate'] == pytest.approx(6.4, abs=0.2)
    assert costs['conv'] < 0.2 * costs['backbone']
