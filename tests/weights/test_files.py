"""Weight files are read without running code from them; a file that needs more is refused, with the way out."""
import collections

import pytest
import torch

from mixskd_mm.models.backbones import TimmStageBackbone
from mixskd_mm.weights.files import check_stem_options, load_weights_file, read_weights

Point = collections.namedtuple('Point', 'x y')  # any class outside torch's and our allow-list


def test_pth_needing_full_unpickling_is_refused_with_an_explanation(tmp_path):
    path = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)}, 'extra': Point(1, 2)}, str(path))
    with pytest.raises(RuntimeError, match='needs full unpickling, which can run arbitrary code, so it was refused'):
        read_weights(str(path))
    with pytest.raises(RuntimeError, match='export a safetensors backbone'):
        TimmStageBackbone('test_resnet', pretrained=str(path))


def test_plain_tensor_pth_and_nested_state_dicts_load(tmp_path):
    state = {'a.weight': torch.ones(2)}
    for i, payload in enumerate((state, {'state_dict': state}, {'model': state})):
        path = tmp_path / f'{i}.pth'
        torch.save(payload, str(path))
        loaded, _ = read_weights(str(path))
        assert torch.equal(loaded['a.weight'], state['a.weight'])


def test_missing_file_names_the_path_and_the_export_tool(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"weight file not found: '.*nope.safetensors'.*export_backbone"):
        read_weights(str(tmp_path / 'nope.safetensors'))


def _exported(tmp_path, name, **options):
    from mixskd_mm.weights.export import save_backbone
    backbone = TimmStageBackbone('resnet18', **options)
    return save_backbone(backbone.state_dict(), str(tmp_path / name), backbone.export_metadata())


def test_a_file_of_another_stem_is_refused_naming_the_option(tmp_path):
    """stem_act changes no tensor, so only the recorded options stop a silent load of another function; an option our
    files do not record means its default (timm's stem, exported before stem_act existed, or with stem_act=True)."""
    timm_stem = _exported(tmp_path, 'timm_stem.safetensors')
    with pytest.raises(RuntimeError, match=r'with stem_act=True, but this backbone has stem_act=False.*'
                                           r'Set `stem_act=True` on TimmStageBackbone'):
        TimmStageBackbone('resnet18', stem_act=False, pretrained=timm_stem)
    no_act = _exported(tmp_path, 'no_act.pth', stem_act=False)
    model = TimmStageBackbone('resnet18', init_cfg=dict(type='Pretrained', checkpoint=no_act, prefix='backbone.'))
    with pytest.raises(RuntimeError, match=r'with stem_act=False, but this backbone has stem_act=True.*'
                                           r'model\.backbone\.stem_act=False'):
        model.init_weights()
    report = load_weights_file(TimmStageBackbone('resnet18', stem_act=False), no_act, expected_arch='resnet18')
    assert len(report['matched']) == len(TimmStageBackbone('resnet18').state_dict())


def test_files_that_record_no_options_are_not_checked(tmp_path):
    plain = tmp_path / 'plain.pth'
    torch.save(TimmStageBackbone('resnet18').state_dict(), str(plain))  # no metadata: nothing recorded to compare
    load_weights_file(TimmStageBackbone('resnet18', stem_act=False), str(plain))
    meta = {'model_name': 'resnet18', 'stem_act': 'maybe'}  # unreadable value: not checked either
    check_stem_options(TimmStageBackbone('resnet18'), meta, 'file')
    with pytest.raises(RuntimeError, match='with cifar_stem=True'):
        check_stem_options(TimmStageBackbone('resnet18'), dict(meta, cifar_stem='true'), 'file')
