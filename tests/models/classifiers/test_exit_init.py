"""MixSKD on a pretrained backbone: ``replicate`` exits start as copies of the loaded units, then train on their own."""
import json
import logging

import pytest
import torch
from safetensors.torch import save_file

from mixskd_mm.models.backbones import TimmStageBackbone
from mixskd_mm.models.classifiers import ImageClassifier, MixSKD, image_classifier


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    """A backbone file whose every tensor differs from a fresh initialisation, recording a normalisation."""
    backbone = TimmStageBackbone('test_resnet')
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in backbone.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5 if 'running_var' in name else
                        torch.randn(t.shape, generator=gen) * 0.1)
    path = str(tmp_path_factory.mktemp('weights') / 'backbone.safetensors')
    norm = dict(mean=[0.2, 0.3, 0.4], std=[0.25, 0.25, 0.25], input_size=[3, 32, 32])
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, path,
              metadata=dict(backbone.export_metadata(), pretrained_cfg=json.dumps(norm)))
    return path


def unit_states(model):
    """``[(exit unit state, backbone unit state)]`` for every unit of every exit."""
    return [(unit.state_dict(), model.backbone.get_submodule(name).state_dict())
            for exit_module in model.exits for name, unit in zip(exit_module.unit_names, exit_module)]


def equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_exits_start_as_copies_of_the_loaded_units_and_then_train_apart(weights):
    torch.manual_seed(0)
    model = MixSKD(dict(type='TimmStageBackbone', model_name='test_resnet', pretrained=weights), num_classes=3)
    assert model.exit_init == 'copy'
    pairs = unit_states(model)
    assert len(pairs) == 3 + 2 + 1  # exits after stages 1, 2, 3 of four
    assert all(equal(e, b) for e, b in pairs)
    assert all(e[k].data_ptr() != b[k].data_ptr() for e, b in pairs for k in e)  # own tensors, nothing shared
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = model.loss(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0]))
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    optim.step()
    weights_only = [(e, b) for e, b in unit_states(model)]
    changed = [not torch.equal(e[k], b[k]) for e, b in weights_only for k in e if k.endswith('weight')]
    assert all(changed)


def test_exits_start_fresh_from_scratch_or_when_asked(weights):
    scratch = MixSKD(dict(type='TimmStageBackbone', model_name='test_resnet'), num_classes=3)
    assert scratch.exit_init == 'random'
    assert not all(equal(e, b) for e, b in unit_states(scratch))
    asked = MixSKD(dict(type='TimmStageBackbone', model_name='test_resnet', pretrained=weights), num_classes=3,
                   exit_init='random')
    assert not any(equal(e, b) for e, b in unit_states(asked))
    conv = MixSKD(dict(type='TimmStageBackbone', model_name='test_resnet', pretrained=weights), num_classes=3,
                  exit_type='conv')
    assert conv.exit_init == 'random'
    with pytest.raises(ValueError, match="exit_type='replicate'"):
        MixSKD(dict(type='TimmStageBackbone', model_name='test_resnet'), num_classes=3, exit_type='conv',
               exit_init='copy')


def test_a_pretrained_init_cfg_is_copied_once_init_weights_loads_it(weights):
    backbone = dict(type='TimmStageBackbone', model_name='test_resnet',
                    init_cfg=dict(type='Pretrained', checkpoint=weights))
    model = MixSKD(backbone, num_classes=3)
    assert model.exit_init == 'copy'
    model.init_weights()
    assert all(equal(e, b) for e, b in unit_states(model))


def test_the_source_normalisation_is_kept_and_a_different_one_warned_about(weights, monkeypatch):
    logged = []
    monkeypatch.setattr(image_classifier, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: logged.append((level, msg)))
    backbone = dict(type='TimmStageBackbone', model_name='test_resnet', pretrained=weights)
    model = ImageClassifier(backbone, 3, data_preprocessor=dict(type='mixskd_mm.ClsDataPreprocessor',
                                                                mean=[51, 76.5, 102], std=[63.75] * 3))
    assert model.backbone.pretrained_cfg['mean'] == (0.2, 0.3, 0.4)
    assert model.backbone.pretrained_cfg['input_size'] == 32
    assert len(logged) == 1 and logged[0][0] == logging.INFO and 'trained with mean=[51.0, 76.5, 102.0]' in logged[0][1]
    ImageClassifier(backbone, 3)
    assert len(logged) == 2 and logged[1][0] == logging.WARNING and 'uses none' in logged[1][1]
