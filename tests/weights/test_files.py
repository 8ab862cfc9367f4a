"""Weight files are read without running code from them; a file that needs more is refused, with the way out."""
import collections
import re

import pytest
import torch

from mixskd_mm.models.backbones import TimmStageBackbone
from mixskd_mm.weights.files import WeightsFileError, check_stem_options, load_weights_file, read_weights

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
    from mixskd_mm.export.backbone_file import save_backbone
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


def _text(path):
    path.write_text('epoch,loss\n1,0.5\n' * 8)


def _truncated_pth(path):
    torch.save({'state_dict': {'conv1.weight': torch.ones(64, 3, 7, 7)}}, str(path))
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _truncated_legacy_pth(path):
    torch.save({'conv1.weight': torch.ones(8)}, str(path), _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:20])


def _truncated_safetensors(path):
    from safetensors.torch import save_file
    save_file({'conv1.weight': torch.ones(64, 3, 7, 7)}, str(path))
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


#: file name, how to write it, what the message says after naming the file
BAD_FILES = {
    'not-safetensors': ('x.safetensors', _text, r"cannot be read as a safetensors file \(Error while deserializing "
                                                r"header: header too large\): it is truncated, or not a safetensors"),
    'truncated-safetensors': ('x.safetensors', _truncated_safetensors, r'cannot be read as a safetensors file \('
                                                                       r'.*incomplete metadata'),
    'truncated-pth': ('x.pth', _truncated_pth, r'is truncated or damaged: a torch checkpoint is a zip archive'),
    'truncated-legacy-pth': ('x.pth', _truncated_legacy_pth, r'cannot be read as a torch checkpoint, it is probably '
                                                             r'truncated or damaged'),
    'garbage-legacy-pth': ('x.pth', lambda p: p.write_bytes(b'\x80\x02' + b'\xff' * 20),
                           r'is not a torch checkpoint \(Unsupported operand 255\)'),
    'text-pth': ('x.pth', _text, r"is not a torch checkpoint \(it starts with b'epoc', and neither torch format "
                                       r"does\)"),
    'empty': ('x.pth', lambda p: p.write_bytes(b''), r'is empty \(0 bytes\)'),
    'folder': ('x.pth', lambda p: p.mkdir(), r'is a folder; expected a \.safetensors file'),
    'not-a-dict': ('x.pth', lambda p: torch.save([torch.ones(1)], str(p)), r'holds a list, not a state dict'),
}


@pytest.mark.parametrize('case', sorted(BAD_FILES))
def test_a_file_that_is_no_weight_file_is_named_with_what_was_expected(case, tmp_path):
    name, write, message = BAD_FILES[case]
    path = tmp_path / name
    write(path)
    with pytest.raises(WeightsFileError, match=rf"weight file '{re.escape(str(path))}' {message}"):
        read_weights(str(path))


def test_every_bad_file_message_says_what_was_expected_or_how_to_fix_it(tmp_path):
    for case, (name, write, _) in BAD_FILES.items():
        path = tmp_path / case / name
        path.parent.mkdir()
        write(path)
        with pytest.raises(WeightsFileError) as err:
            read_weights(str(path))
        assert 'expected a .safetensors file' in str(err.value) or 'tools/export_backbone.py' in str(err.value), case


def test_pretrained_and_init_cfg_name_the_bad_file(tmp_path):
    path = tmp_path / 'backbone.safetensors'
    _text(path)
    with pytest.raises(WeightsFileError, match=r"'.*backbone\.safetensors'.*header too large"):
        TimmStageBackbone('test_resnet', pretrained=str(path))
    truncated = tmp_path / 'run.pth'
    _truncated_pth(truncated)
    model = TimmStageBackbone('test_resnet', init_cfg=dict(type='Pretrained', checkpoint=str(truncated)))
    with pytest.raises(WeightsFileError, match=r"'.*run\.pth' is truncated or damaged"):
        model.init_weights()


def test_a_timm_folder_with_a_broken_config_json_is_named(tmp_path):
    (tmp_path / 'config.json').write_text('{"architecture": ')
    with pytest.raises(WeightsFileError, match=r"local-dir:.*: '.*config\.json' is not a timm model config "
                                               r"\(JSONDecodeError"):
        TimmStageBackbone('test_resnet', pretrained=f'local-dir:{tmp_path}')
    (tmp_path / 'config.json').write_text('{"num_classes": 10}')
    with pytest.raises(WeightsFileError, match=r"is not a timm model config \(KeyError: 'architecture'\)"):
        TimmStageBackbone('test_resnet', pretrained=f'local-dir:{tmp_path}')
