"""``channels_last=True`` (the pretraining configs' default): same values as contiguous tensors, other layout."""
import glob
import os

import pytest
import torch
from _helpers import ROOT
from mmengine.config import Config

from mixskd_mm.models.classifiers import ImageClassifier, MixSKD

TINY = dict(type='TimmStageBackbone', model_name='test_resnet')


def _convs_channels_last(model):
    """Per k x k convolution (k > 1: a 1x1 weight is contiguous in both formats), whether it is channels-last."""
    return [m.weight.is_contiguous(memory_format=torch.channels_last)
            for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.weight[0, 0].numel() > 1]


def test_mixskd_channels_last_gives_the_same_losses_and_gradients():
    torch.manual_seed(0)
    plain = MixSKD(TINY, num_classes=5)
    fast = MixSKD(TINY, num_classes=5, channels_last=True)
    fast.load_state_dict(plain.state_dict())
    assert all(_convs_channels_last(fast)) and not any(_convs_channels_last(plain))
    seen = []
    stem_conv = next(m for m in fast.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    stem_conv.register_forward_hook(lambda m, i, o: seen.append(
        (i[0].is_contiguous(memory_format=torch.channels_last), o.is_contiguous(memory_format=torch.channels_last))))
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])  # a contiguous batch: forward converts it
    values = []
    for model in (plain, fast):
        torch.manual_seed(1)  # the same Mixup draw
        losses = model(x, y, mode='loss')
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        values.append(losses)
    assert seen == [(True, True)]  # the stem convolution ran on channels-last maps (32 x 32 in, 16 x 16 out)
    for key in values[0]:
        torch.testing.assert_close(values[0][key], values[1][key], msg=key, rtol=1e-5, atol=1e-5)
    for (name, a), b in zip(plain.named_parameters(), fast.parameters()):
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, msg=name, rtol=1e-4, atol=1e-5)


def test_layout_survives_init_weights_and_keeps_the_parameters_an_optimiser_holds():
    model = ImageClassifier(dict(TINY, init='kaiming'), num_classes=3, channels_last=True)
    params = list(model.parameters())
    model.init_weights()
    assert all(_convs_channels_last(model))
    assert all(a is b for a, b in zip(params, model.parameters()))
    preds = model(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]), mode='predict')
    assert len(preds) == 2


@pytest.mark.parametrize('config', sorted(glob.glob(os.path.join(ROOT, 'configs', 'mixskd', '*.py'))),
                         ids=os.path.basename)
def test_pretraining_configs_default_to_channels_last(config):
    assert Config.fromfile(config).model.channels_last is True


@pytest.mark.parametrize('config', sorted(glob.glob(os.path.join(ROOT, 'configs', 'mixskd', '*.py'))),
                         ids=os.path.basename)
def test_the_model_argument_is_the_one_layout_switch_of_every_config(config):
    assert 'channels_last' not in (Config.fromfile(config).model.get('data_preprocessor') or {})


@pytest.mark.parametrize('model_cls,channels_last', [(ImageClassifier, False), (ImageClassifier, True),
                                                     (MixSKD, 'auto')])
def test_a_data_preprocessor_with_its_own_layout_is_refused(model_cls, channels_last):
    pre = dict(type='mixskd_mm.ClsDataPreprocessor', channels_last=True)
    with pytest.raises(ValueError, match='decided by the model alone.*set model.channels_last=True'):
        model_cls(TINY, num_classes=3, data_preprocessor=pre, channels_last=channels_last)
    model = model_cls(TINY, num_classes=3, data_preprocessor=dict(pre, channels_last=False),
                      channels_last=channels_last)
    assert model.channels_last == channels_last
