"""Selective and full activation recomputation: same values, same gradients, BN updated once, less memory."""
import pytest
import torch
from torch import nn

from mixskd_mm.models.backbones import TimmStageBackbone
from mixskd_mm.models.recompute import check_cp_mode, run_checkpointed
from mixskd_mm.utils.memory import LiveTensorBytes

MODELS = [('test_resnet', (1, 2, 3, 4)), ('resnet18', (1, 2, 3, 4)), ('test_convnext', (0, 1, 2, 3)),
          ('test_efficientnet', (1, 2, 3, 4)), ('mobilenetv3_small_050', (1, 2, 3, 4)), ('regnetx_002', (1, 2, 3, 4))]


def _train_step(model: TimmStageBackbone, x: torch.Tensor) -> list:
    outs = model(x)
    sum(o.square().mean() for o in outs).backward()
    return [o.detach() for o in outs]


@pytest.mark.parametrize('name,out_indices', MODELS)
def test_selective_gives_the_same_values_gradients_and_running_stats(name, out_indices):
    torch.manual_seed(0)
    plain = TimmStageBackbone(name, out_indices=out_indices)
    selective = TimmStageBackbone(name, out_indices=out_indices, with_cp='selective')
    selective.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 64, 64)
    for a, b in zip(_train_step(plain, x), _train_step(selective, x)):
        torch.testing.assert_close(a, b)
    for (key, pa), pb in zip(plain.named_parameters(), selective.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=key)
    # batch norm recomputed in the backward pass must not update the running statistics a second time
    for (key, ba), bb in zip(plain.named_buffers(), selective.buffers()):
        torch.testing.assert_close(ba, bb, msg=key, rtol=0, atol=0)


def test_full_recompute_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = TimmStageBackbone('test_resnet')
    full = TimmStageBackbone('test_resnet', with_cp=True)
    full.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    _train_step(plain, x), _train_step(full, x)
    for (key, pa), pb in zip(plain.named_parameters(), full.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=key)


def _stored_bytes(with_cp) -> int:
    """Bytes that one training forward leaves alive for the backward pass (outputs included)."""
    torch.manual_seed(0)
    model = TimmStageBackbone('resnet18', cifar_stem=True, with_cp=with_cp)
    x = torch.randn(8, 3, 32, 32)
    with LiveTensorBytes() as mem:
        outs = model(x)
        stored = mem.current
    sum(o.sum() for o in outs).backward()
    return stored


def test_selective_stores_much_less_and_full_least():
    plain, selective, full = _stored_bytes(False), _stored_bytes('selective'), _stored_bytes(True)
    assert selective < 0.7 * plain
    assert full < selective


def test_frozen_and_eval_models_run_plainly():
    m = TimmStageBackbone('test_resnet', with_cp='selective', frozen_stages=4).train()
    outs = m(torch.randn(2, 3, 32, 32))
    assert not any(o.requires_grad for o in outs)
    with torch.no_grad():
        m.eval()(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize('bad', ['yes', 'partial', 2, None])
def test_unknown_mode_names_the_choices(bad):
    with pytest.raises(ValueError, match="with_cp must be False, True .*'selective'"):
        TimmStageBackbone('test_resnet', with_cp=bad)
    assert check_cp_mode('full') == 'full' and check_cp_mode(False) is False


def test_in_place_op_on_a_kept_output_is_refused_with_the_way_out():
    net = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(inplace=True))  # no norm between them
    with pytest.raises(RuntimeError, match=r"modifies the output of aten.convolution.* with_cp=True"):
        run_checkpointed(net, torch.randn(2, 16, 8, 8, requires_grad=True), 'selective')
    out = run_checkpointed(net, torch.randn(2, 16, 8, 8, requires_grad=True), True)  # full recompute copes
    out.sum().backward()
    assert net[0].weight.grad is not None


@pytest.mark.parametrize('amp,channels_last', [(True, False), (False, True)])
def test_selective_under_autocast_and_channels_last(amp, channels_last):
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    plain = TimmStageBackbone('test_resnet').to(memory_format=fmt)
    selective = TimmStageBackbone('test_resnet', with_cp='selective').to(memory_format=fmt)
    selective.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3, 64, 64).to(memory_format=fmt)
    outs = []
    for model in (plain, selective):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
            outs.append(_train_step(model, x))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b)
    for (key, pa), pb in zip(plain.named_parameters(), selective.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=key)
