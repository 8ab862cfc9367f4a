"""TimmStageBackbone on real timm models (CPU, tiny inputs)."""
import json

import pytest
import timm
import torch
from mmengine.registry import MODELS as ROOT_MODELS
from safetensors.torch import save_file
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mixskd_mm.models.backbones import TimmStageBackbone

# (name, out_indices, expected channels) for a 64x64 input; strides are 4, 8, 16, 32 for all
CASES = [
    ('test_resnet', (1, 2, 3, 4), [32, 48, 192, 96]),
    ('resnet18', (1, 2, 3, 4), [64, 128, 256, 512]),
    ('convnext_atto', (0, 1, 2, 3), [40, 80, 160, 320]),
    ('efficientnet_b0', (1, 2, 3, 4), [24, 40, 112, 320]),
    ('mobilenetv3_small_100', (1, 2, 3, 4), [16, 24, 48, 576]),
    ('regnetx_002', (1, 2, 3, 4), [24, 56, 152, 368]),
]


@pytest.mark.parametrize('name,out_indices,channels', CASES)
def test_stage_shapes_channels_strides(name, out_indices, channels):
    m = TimmStageBackbone(name, out_indices=out_indices).eval()
    outs = m(torch.randn(2, 3, 64, 64))
    assert m.out_channels == channels
    assert m.strides == [4, 8, 16, 32]
    assert [o.shape[1] for o in outs] == channels
    assert [o.shape[-1] for o in outs] == [64 // s for s in m.strides]
    # the same numbers timm's own features_only wrapper gives, and timm's key names
    ref = timm.create_model(name, features_only=True, out_indices=out_indices)
    assert ref.feature_info.channels() == channels
    full_keys = set(timm.create_model(name).state_dict())
    assert set(m.state_dict()) <= full_keys


def test_same_outputs_as_timm_features_only():
    ref = timm.create_model('resnet18', features_only=True, out_indices=(1, 2, 3, 4)).eval()
    m = TimmStageBackbone('resnet18').eval()
    m.load_state_dict(ref.state_dict())
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(m(x), ref(x)):
        torch.testing.assert_close(a, b)


def test_frozen_stages_and_norm_eval_hold_after_train():
    m = TimmStageBackbone('resnet18', frozen_stages=1, norm_eval=True)
    m.train()
    for name in ('conv1', 'bn1', 'layer1'):
        unit = m.get_submodule(name)
        assert not unit.training
        assert all(not p.requires_grad for p in unit.parameters())
    assert all(p.requires_grad for p in m.layer2.parameters())
    assert m.layer2.training  # non-norm modules of later stages train
    assert all(not b.training for b in m.modules() if isinstance(b, _BatchNorm))
    # gradients reach the unfrozen stages only
    sum(o.sum() for o in m(torch.randn(2, 3, 64, 64))).backward()
    assert m.layer1[0].conv1.weight.grad is None
    assert m.layer2[0].conv1.weight.grad is not None


def test_frozen_stages_generic_model():
    m = TimmStageBackbone('efficientnet_b0', frozen_stages=1).train()
    assert not any(p.requires_grad for n in ('conv_stem', 'bn1', 'blocks.0', 'blocks.1')
                   for p in m.get_submodule(n).parameters())
    assert all(p.requires_grad for p in m.get_submodule('blocks.2').parameters())


def test_syncbn_and_frozenbn_conversion():
    sync = TimmStageBackbone('resnet18', norm_cfg=dict(type='SyncBN'))
    kinds = {type(mod) for mod in sync.modules() if isinstance(mod, _BatchNorm)}
    assert kinds == {nn.SyncBatchNorm}
    frozen = TimmStageBackbone('resnet18', norm_cfg=dict(type='FrozenBN'))
    assert not any(isinstance(mod, _BatchNorm) for mod in frozen.modules())
    assert set(frozen.state_dict()) >= {'bn1.weight', 'bn1.running_mean'}
    with pytest.raises(ValueError, match="'BN', 'SyncBN' or 'FrozenBN'"):
        TimmStageBackbone('resnet18', norm_cfg=dict(type='GN'))


def test_output_stride_8_gives_stride_8_c5():
    m = TimmStageBackbone('resnet18', output_stride=8).eval()
    outs = m(torch.randn(1, 3, 64, 64))
    assert m.strides == [4, 8, 8, 8]
    assert outs[-1].shape[-2:] == (8, 8)
    assert TimmStageBackbone('resnet18', output_stride=16).strides == [4, 8, 16, 16]


def test_cifar_stem():
    m = TimmStageBackbone('resnet18', cifar_stem=True).eval()
    outs = m(torch.randn(2, 3, 32, 32))
    assert outs[-1].shape == (2, 512, 4, 4)
    assert m.strides == [1, 2, 4, 8]
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1)
    assert isinstance(m.maxpool, nn.Identity)
    with pytest.raises(ValueError, match='cifar_stem'):
        TimmStageBackbone('convnext_atto', out_indices=(0, 1, 2, 3), cifar_stem=True)


def test_gradient_checkpointing_same_grads():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    a = TimmStageBackbone('test_resnet')
    b = TimmStageBackbone('test_resnet', with_cp=True)
    b.load_state_dict(a.state_dict())
    for m in (a, b):
        sum(o.sum() for o in m(x)).backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=name)


def test_heads_dropped_and_subset_of_stages():
    m = TimmStageBackbone('efficientnet_b0', out_indices=(1, 2))
    keys = list(m.state_dict())
    assert not any(k.startswith(('conv_head', 'bn2', 'classifier', 'blocks.3')) for k in keys)
    assert len(m(torch.randn(1, 3, 32, 32))) == 2


def test_build_from_any_scope():
    cfg = dict(type='mixskd_mm.TimmStageBackbone', model_name='test_resnet')
    assert isinstance(ROOT_MODELS.build(cfg), TimmStageBackbone)
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmseg.registry import MODELS as MMSEG_MODELS
    assert isinstance(MMDET_MODELS.build(cfg), TimmStageBackbone)
    assert isinstance(MMSEG_MODELS.build(cfg), TimmStageBackbone)


def _reference_weights(tmp_path, name='test_resnet'):
    src = TimmStageBackbone(name)
    path = tmp_path / 'w.safetensors'
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path), metadata={'model_name': name})
    return src, path


def test_pretrained_file_and_init_cfg_load_fully(tmp_path):
    src, path = _reference_weights(tmp_path)
    x = torch.randn(1, 3, 64, 64)
    expected = src.eval()(x)
    a = TimmStageBackbone('test_resnet', pretrained=str(path)).eval()
    b = TimmStageBackbone('test_resnet', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    b.init_weights()
    b.eval()
    for m in (a, b):
        for o, e in zip(m(x), expected):
            torch.testing.assert_close(o, e)
    # an mmengine-style .pth with a `backbone.` prefix and a head loads too
    pth = tmp_path / 'w.pth'
    torch.save({'state_dict': {**{'backbone.' + k: v for k, v in src.state_dict().items()},
                               'head.fc.weight': torch.zeros(3, 3)}}, str(pth))
    c = TimmStageBackbone('test_resnet', pretrained=str(pth)).eval()
    torch.testing.assert_close(c(x)[-1], expected[-1])


def test_pretrained_wrong_architecture_fails_loudly(tmp_path):
    _, path = _reference_weights(tmp_path, 'resnet18')
    with pytest.raises(RuntimeError, match=r"exported from 'resnet18'"):
        TimmStageBackbone('test_resnet', pretrained=str(path))
    pth = tmp_path / 'bad_prefix.pth'
    torch.save({'encoder.' + k: v for k, v in TimmStageBackbone('test_resnet').state_dict().items()}, str(pth))
    with pytest.raises(RuntimeError, match=r'0/\d+ tensors matched.*pass the right `prefix`'):
        TimmStageBackbone('test_resnet', pretrained=str(pth))


def test_clear_errors_for_bad_names_and_indices():
    with pytest.raises(ValueError, match=r"unknown timm model 'resnet181'.*resnet18"):
        TimmStageBackbone('resnet181')
    with pytest.raises(ValueError, match='out of range.*5 stages, indices 0..4'):
        TimmStageBackbone('resnet18', out_indices=(1, 2, 5))
    with pytest.raises(ValueError, match='no multi-stage features'):
        TimmStageBackbone('vit_tiny_patch16_224')
    with pytest.raises(ValueError, match='does not accept'):
        TimmStageBackbone('mobilenetv3_small_100', output_stride=8)


# -- what the backbone is: arch_args() and export_metadata() --------------------------------------------------------
DESCRIBED = [dict(model_name='test_resnet'),
             dict(model_name='resnet18', cifar_stem=True, stem_act=False, init='torch'),
             dict(model_name='test_resnet', out_indices=(2, 3), output_stride=16, in_chans=1, init='kaiming',
                  drop_path_rate=0.1, frozen_stages=1, norm_eval=True)]


@pytest.mark.parametrize('args', DESCRIBED, ids=lambda a: a['model_name'] + str(len(a)))
def test_arch_args_rebuild_the_same_network(args):
    torch.manual_seed(0)
    built = TimmStageBackbone(**args).eval()
    again = TimmStageBackbone(**built.arch_args()).eval()
    assert not {'pretrained', 'init_cfg', 'frozen_stages', 'norm_eval', 'with_cp'} & set(built.arch_args())
    again.load_state_dict(built.state_dict())
    x = torch.randn(2, args.get('in_chans', 3), 32, 32)
    for a, b in zip(built(x), again(x)):
        assert torch.equal(a, b)


@pytest.mark.parametrize('args', DESCRIBED, ids=lambda a: a['model_name'] + str(len(a)))
def test_export_metadata_is_one_description_for_the_module_and_its_config(args):
    from mmengine.config import Config

    from mixskd_mm.export.backbone_file import backbone_metadata
    from mixskd_mm.weights.record import export_metadata_of
    meta = TimmStageBackbone(**args).export_metadata()
    cfg = Config(dict(model=dict(backbone=dict(args, type='mixskd_mm.TimmStageBackbone'))))
    assert meta == export_metadata_of(args) == backbone_metadata({'cfg': cfg.pretty_text})
    assert meta['model_name'] == args['model_name'] and json.loads(meta['cifar_stem']) is args.get('cifar_stem', False)
    for key, default in (('stem_act', True), ('output_stride', None), ('in_chans', 3)):
        assert (key in meta) == (args.get(key, default) != default)  # an option at its default is not recorded


def test_own_arguments_are_the_constructor_signature():
    """``timm_args`` hands timm every argument not in OWN_ARGUMENTS: the list must be the backbone's own."""
    import inspect

    from mixskd_mm.models.backbones import OWN_ARGUMENTS
    assert OWN_ARGUMENTS == set(inspect.signature(TimmStageBackbone.__init__).parameters) | {'type'}
