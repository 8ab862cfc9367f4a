"""TimmStageBackbone's ``stem_act`` and ``init`` options (the released CIFAR / ImageNet ResNets) and their metadata."""
import math

import pytest
import torch
from mmengine.config import Config
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mixskd_mm.export.backbone_file import backbone_metadata, save_backbone
from mixskd_mm.models.backbones import TimmStageBackbone


def last_bns(model: nn.Module):
    """The last BatchNorm of every residual block (``bn2`` of a BasicBlock, ``bn3`` of a Bottleneck)."""
    blocks = [b for name in ('layer1', 'layer2', 'layer3', 'layer4') if hasattr(model, name)
              for b in getattr(model, name)]
    assert blocks
    return [b.bn3 if hasattr(b, 'bn3') else b.bn2 for b in blocks]


def expected_var(conv: nn.Conv2d, init: str) -> float:
    """Var W of a convolution: Kaiming-normal fan_out 2 / (k k C_out); PyTorch's default 1 / (3 fan_in)."""
    k = conv.kernel_size[0] * conv.kernel_size[1]
    return 1 / (3 * k * conv.in_channels // conv.groups) if init == 'torch' else 2 / (k * conv.out_channels)


def check_init(model: nn.Module, init: str) -> None:
    """Every large convolution has the scheme's variance; last BNs are 0 for 'timm', 1 otherwise."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.weight.numel() >= 4096]
    assert convs
    for conv in convs:
        assert conv.weight.var().item() == pytest.approx(expected_var(conv, init), rel=0.1)
        if init == 'torch':  # Kaiming-uniform, a = sqrt(5): bounded by 1 / sqrt(fan_in)
            fan_in = conv.weight[0].numel()
            assert conv.weight.abs().max().item() <= 1 / math.sqrt(fan_in) * (1 + 1e-6)
    for bn in last_bns(model):
        assert torch.equal(bn.weight, torch.zeros_like(bn.weight) if init == 'timm' else torch.ones_like(bn.weight))
    for bn in (m for m in model.modules() if isinstance(m, _BatchNorm)):
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_stem_without_activation_is_conv_bn_layer1():
    torch.manual_seed(0)
    # init='torch': with timm's zeroed last BNs a fresh block is relu(input), which hides the missing stem ReLU
    m = TimmStageBackbone('resnet18', cifar_stem=True, stem_act=False, init='torch').eval()
    timm_stem = TimmStageBackbone('resnet18', cifar_stem=True, init='torch').eval()
    assert isinstance(m.act1, nn.Identity) and isinstance(timm_stem.act1, nn.ReLU)
    assert m.stem_act is False and timm_stem.stem_act is True
    timm_stem.load_state_dict(m.state_dict())  # same keys: act1 holds no parameters
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        c2 = m(x)[0]
        torch.testing.assert_close(c2, m.layer1(m.bn1(m.conv1(x))))
        torch.testing.assert_close(timm_stem(x)[0], m.layer1(torch.relu(m.bn1(m.conv1(x)))))
        assert (timm_stem(x)[0] - c2).abs().max() > 1e-2
    standard = TimmStageBackbone('resnet18', stem_act=False)  # timm's 7x7 stem: conv -> BN -> max-pool
    assert isinstance(standard.act1, nn.Identity) and not isinstance(standard.maxpool, nn.Identity)


@pytest.mark.parametrize('name,out_indices', [('convnext_atto', (0, 1, 2, 3)), ('efficientnet_b0', (1, 2, 3, 4))])
def test_stem_act_false_is_refused_where_it_does_not_apply(name, out_indices):
    with pytest.raises(ValueError, match=f"stem_act=False needs a ResNet-style stem.*'{name}'"):
        TimmStageBackbone(name, out_indices=out_indices, stem_act=False)


@pytest.mark.parametrize('init', ['timm', 'kaiming', 'torch'])
@pytest.mark.parametrize('name,cifar', [('resnet18', True), ('resnet50', False)])
def test_init_schemes(name, cifar, init):
    torch.manual_seed(0)
    m = TimmStageBackbone(name, cifar_stem=cifar, init=init)
    assert m.init == init
    check_init(m, init)
    stem = m.conv1  # also the CIFAR stem's replacement convolution
    assert stem.weight.var().item() == pytest.approx(expected_var(stem, init), rel=0.15)


def test_torch_init_is_pytorchs_reset_parameters_of_every_layer():
    """Seeded alike, ``init='torch'`` equals timm's model with every layer's ``reset_parameters()`` run in order."""
    torch.manual_seed(0)
    m = TimmStageBackbone('resnet18', cifar_stem=True, init='torch')
    torch.manual_seed(0)
    ref = TimmStageBackbone('resnet18', cifar_stem=True)
    assert not torch.equal(m.layer1[0].conv1.weight, ref.layer1[0].conv1.weight)
    for mod in ref.modules():
        if hasattr(mod, 'reset_parameters') and list(mod.parameters(recurse=False)):
            mod.reset_parameters()
    for (name, a), b in zip(m.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), name


def test_init_errors():
    with pytest.raises(ValueError, match=r"init must be one of \('timm', 'kaiming', 'torch'\).*'xavier'"):
        TimmStageBackbone('test_resnet', init='xavier')
    with pytest.raises(ValueError, match="would overwrite timm's pretrained weights"):
        TimmStageBackbone('resnet18', init='torch', pretrained=True)


def test_stem_act_recorded_in_export_metadata_only_when_false(tmp_path):
    plain = TimmStageBackbone('resnet18', cifar_stem=True)
    released = TimmStageBackbone('resnet18', cifar_stem=True, stem_act=False, init='torch')
    assert plain.export_metadata() == {'model_name': 'resnet18', 'out_indices': '[1, 2, 3, 4]', 'cifar_stem': 'true'}
    assert released.export_metadata() == dict(plain.export_metadata(), stem_act='false')
    cfg = dict(model=dict(backbone=dict(type='TimmStageBackbone', model_name='resnet18', cifar_stem=True)))
    assert 'stem_act' not in backbone_metadata({'cfg': Config(cfg).pretty_text})
    cfg['model']['backbone']['stem_act'] = False
    assert backbone_metadata({'cfg': Config(cfg).pretty_text})['stem_act'] == 'false'
    # a transfer built from the file gets the same stem back
    from mixskd_mm.compare.transfer.common import backbone_extras, checked_backbone, read_backbone_file
    path = save_backbone(released.state_dict(), str(tmp_path / 'b.safetensors'), released.export_metadata())
    info = read_backbone_file(path)
    assert info['stem_act'] is False and backbone_extras(info) == dict(cifar_stem=True, stem_act=False)
    assert isinstance(checked_backbone(info, (1, 2, 3, 4)).act1, nn.Identity)
    plain_info = read_backbone_file(save_backbone(plain.state_dict(), str(tmp_path / 'p.safetensors'),
                                                  plain.export_metadata()))
    assert plain_info['stem_act'] is True and 'stem_act' not in backbone_extras(plain_info)
