"""``channels_last='auto'``: each convolution shape timed once in both layouts, the faster kept, never mid-step."""
import pytest
import torch
from torch import nn

from mixskd_mm.models import memory_format
from mixskd_mm.models.classifiers import ImageClassifier, MixSKD

TINY = dict(type='TimmStageBackbone', model_name='test_resnet')
CL = torch.channels_last


@pytest.fixture(autouse=True)
def fresh_choices():
    memory_format.reset()
    yield
    memory_format.reset()


def _record_layouts(model):
    """Per convolution call: (input pixels, channels-last?, contiguous?) of the input the convolution computed on.

    A forward hook sees the arguments after the pre-hooks ran. A 1 x 1 map is both layouts at once."""
    seen = []

    def hook(conv, args, out):
        x = args[0]
        seen.append((x.shape[-2] * x.shape[-1], x.is_contiguous(memory_format=CL), x.is_contiguous()))
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(hook)
    return seen


def _small_maps_contiguous(sig, fmt):
    """A fake timer: contiguous is twice as fast on inputs of at most 4 x 4 pixels, channels-last elsewhere."""
    small = sig.input_shape[-2] * sig.input_shape[-1] <= 16
    return (1.0 if fmt is CL else 0.5) if small else (1.0 if fmt is CL else 2.0)


def _step(model, x, y):
    losses = model(x, y, mode='loss')
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    return losses


def test_auto_gives_the_losses_and_gradients_of_contiguous_tensors():
    torch.manual_seed(0)
    plain = MixSKD(TINY, num_classes=5)
    auto = MixSKD(TINY, num_classes=5, channels_last='auto')
    auto.load_state_dict(plain.state_dict())
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    for step in range(2):  # the first step queues the shapes, the second runs with the timed choices
        values = []
        for model in (plain, auto):
            model.zero_grad()
            torch.manual_seed(1 + step)  # the same Mixup draw
            values.append(_step(model, x, y))
        for key in values[0]:
            torch.testing.assert_close(values[0][key], values[1][key], msg=key, rtol=1e-5, atol=1e-5)
        for (name, a), b in zip(plain.named_parameters(), auto.parameters()):
            if a.grad is not None:
                torch.testing.assert_close(a.grad, b.grad, msg=name, rtol=1e-4, atol=1e-5)
    assert memory_format.chosen(), 'the second step found no timed choices'
    # the weights stay contiguous: the parameters an optimiser or DDP holds are untouched
    assert all(m.weight.is_contiguous() for m in auto.modules() if isinstance(m, nn.Conv2d))


def test_each_convolution_runs_in_the_layout_timed_faster_from_the_next_step_on(monkeypatch):
    monkeypatch.setattr(memory_format, 'time_call', _small_maps_contiguous)
    model = ImageClassifier(TINY, num_classes=3, channels_last='auto')
    seen = _record_layouts(model)
    x, y = torch.randn(2, 3, 28, 28), torch.tensor([0, 1])  # test_resnet: maps from 14 x 14 down to 1 x 1
    _step(model, x, y)
    assert not memory_format.chosen() and memory_format._pending
    assert all(cl for _, cl, _ in seen), 'before any timing every convolution runs channels-last'
    seen.clear()
    _step(model, x, y)  # its first act: timing the queued shapes
    assert memory_format.chosen() and not memory_format._pending
    assert {pixels for pixels, _, _ in seen} >= {196, 49, 16, 4}
    for pixels, cl, contiguous in seen:
        if pixels > 16:
            assert cl and not contiguous, f'a convolution on {pixels}-pixel maps did not run channels-last'
        elif pixels > 1:
            assert contiguous and not cl, f'a convolution on {pixels}-pixel maps did not run contiguous'


def test_contiguous_needs_a_clear_margin():
    sig = 'any'
    for ratio, expected in ((0.95, CL), (0.85, torch.contiguous_format)):
        memory_format.reset()
        memory_format._pending[sig] = None
        memory_format.tune_pending(lambda s, fmt, r=ratio: 1.0 if fmt is CL else r)
        assert memory_format.chosen() == {sig: expected}


def test_choices_never_change_within_a_step():
    """A shape first met in a step keeps channels-last for the rest of that step, recomputation included."""
    model = MixSKD(dict(TINY, with_cp='selective'), num_classes=3, channels_last='auto', exit_with_cp='selective')
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    _step(model, x, y)  # recomputed regions rerun their convolutions in the backward pass with the queued layout
    assert not memory_format.chosen() and memory_format._pending
    memory_format.tune_pending(lambda s, fmt: 1.0 if fmt is CL else 0.5)  # contiguous everywhere from now on
    seen = _record_layouts(model)
    _step(model, x, y)
    assert seen and all(contiguous for _, _, contiguous in seen)


def test_timing_leaves_the_global_random_stream_alone():
    conv = nn.Conv2d(8, 8, 3, padding=1)
    x = torch.randn(2, 8, 8, 8, requires_grad=True)
    sig = memory_format.signature(conv, x)
    assert sig.grad_input and sig.grad_weight and sig.autocast is None
    state = torch.get_rng_state()
    for fmt in memory_format.FORMATS:
        assert memory_format.time_call(sig, fmt, calls=1) > 0
    assert torch.equal(torch.get_rng_state(), state)
    with torch.no_grad():
        assert not memory_format.signature(conv, x).grad_weight  # no-grad calls are timed forward only


def test_hooks_are_attached_once_and_the_option_is_checked():
    model = MixSKD(TINY, num_classes=3, channels_last='auto')  # apply_memory_format runs twice while building
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(len(m._forward_pre_hooks) == 1 for m in convs)
    with pytest.raises(ValueError, match="True, False or 'auto'"):
        ImageClassifier(TINY, num_classes=3, channels_last='yes')
