"""Auxiliary exits: shapes, errors, and what the cheap exit costs next to the backbone and replicated tails."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mixskd_mm.models.classifiers import MixSKD
from mixskd_mm.models.exits import ConvExit


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


def _conv_var(conv, init):
    """Var W: PyTorch's default 1 / (3 fan_in), Kaiming-normal fan_out 2 / (k k C_out)."""
    k = conv.kernel_size[0] * conv.kernel_size[1]
    return 1 / (3 * k * conv.in_channels) if init == 'torch' else 2 / (k * conv.out_channels)


@pytest.mark.parametrize('init', ['timm', 'kaiming', 'torch'])
def test_replicated_exits_get_the_backbones_init_and_stem_options(init):
    torch.manual_seed(0)
    backbone = dict(type='TimmStageBackbone', model_name='resnet18', cifar_stem=True, stem_act=False, init=init)
    model = MixSKD(backbone, num_classes=10)
    assert [e.stage for e in model.exits] == [1, 2, 3]
    for exit_module in model.exits:
        blocks = [b for layer in exit_module for b in layer]  # the copied layer{k+1}..layer4
        assert blocks
        for block in blocks:  # the last BN of every block: timm zeroes it, the released code does not
            expected = torch.zeros(block.bn2.num_features) if init == 'timm' else torch.ones(block.bn2.num_features)
            assert torch.equal(block.bn2.weight, expected)
            for conv in (block.conv1, block.conv2):
                assert conv.weight.var().item() == pytest.approx(_conv_var(conv, init), rel=0.1)
    x = torch.randn(2, 3, 32, 32)
    assert {f.shape for f in model.exit_features(x)} == {torch.Size([2, 512, 4, 4])}


def test_exits_and_heads_are_built_through_the_registry():
    """A new exit type is its registered module alone; the configs' short names stand for the registered ones."""
    from torch import nn

    from mixskd_mm.models.exits import EXIT_TYPES, exit_config
    from mixskd_mm.models.heads import LinearClsHead, SelfTeacher
    from mixskd_mm.registry import MODELS

    class PoolExit(nn.Module):  # test_resnet's final map: 96 channels at stride 32
        def __init__(self, in_channels: int, factor: int) -> None:
            super().__init__()
            self.proj = nn.Conv2d(in_channels, 96, 1)
            self.factor = factor

        @classmethod
        def backbone_args(cls, backbone, stage):
            final = backbone.out_indices[-1]
            return dict(in_channels=backbone.stage_channels[stage],
                        factor=backbone.stage_strides[final] // backbone.stage_strides[stage])

        def forward(self, x):
            return self.proj(nn.functional.avg_pool2d(x, self.factor))

    MODELS.register_module(name='TestPoolExit', module=PoolExit)
    try:
        model = MixSKD(dict(type='TimmStageBackbone', model_name='test_resnet'), num_classes=5,
                       exit_type='TestPoolExit')
        assert [type(e) for e in model.exits] == [PoolExit] * 3 and [e.factor for e in model.exits] == [8, 4, 2]
        assert sorted(model.loss(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))) == [
            'loss_adv', 'loss_ce', 'loss_feat', 'loss_kd', 'loss_mix_ce', 'mix_lam']
    finally:
        MODELS._module_dict.pop('TestPoolExit')
    assert EXIT_TYPES == {'replicate': 'ReplicateExit', 'conv': 'ConvExit'}
    assert exit_config('conv', model.backbone, 1) == dict(type='mixskd_mm.ConvExit', in_channels=32, out_channels=96,
                                                          stride_ratio=8)
    assert {type(h) for h in model.exit_heads} == {type(model.head)} == {LinearClsHead}
    assert isinstance(model.self_teacher, SelfTeacher)
    with pytest.raises(ValueError, match="exit_type must be 'replicate', 'conv' or a registered exit"):
        MixSKD(dict(type='TimmStageBackbone', model_name='test_resnet'), num_classes=5, exit_type='pool')
