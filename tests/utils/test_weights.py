"""Weight files are read without running code from them; a file that needs more is refused, with the way out."""
import collections

import pytest
import torch

from mixskd_mm.models.backbones import TimmStageBackbone
from mixskd_mm.utils.weights import read_weights

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
