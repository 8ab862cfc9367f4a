"""A missing dataset folder is reported before the run starts, with the layout and where to get the data."""
import pytest
from mmengine.config import Config

from mixskd_mm.utils.data_check import check_data_paths


def _cfg(tmp_path, base):
    path = tmp_path / 'cfg.py'
    path.write_text(f"_base_ = '{base}'\n")
    return Config.fromfile(str(path))


@pytest.mark.parametrize('base,kind,layout', [
    ('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 'CocoDataset', 'annotations/instances_train2017.json'),
    ('mmdet::pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py', 'VOCDataset', 'ImageSets/Main'),
    ('mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512.py', 'PascalVOCDataset', 'SegmentationClassAug'),
    ('mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-80k_ade20k-512x512.py', 'ADE20KDataset', 'ADEChallengeData2016'),
])
def test_missing_dataset_names_path_layout_and_source(tmp_path, monkeypatch, base, kind, layout):
    monkeypatch.chdir(tmp_path)  # relative data/... paths resolve here, where nothing exists
    with pytest.raises(FileNotFoundError, match=rf'train dataset {kind}: .* does not exist') as err:
        check_data_paths(_cfg(tmp_path, base))
    assert layout in str(err.value) and 'Get the data' in str(err.value)


def test_present_dataset_passes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = _cfg(tmp_path, 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    for rel in ('data/coco/annotations', 'data/coco/train2017', 'data/coco/val2017'):
        (tmp_path / rel).mkdir(parents=True)
    for ann in ('instances_train2017.json', 'instances_val2017.json'):
        (tmp_path / 'data/coco/annotations' / ann).write_text('{}')
    check_data_paths(cfg)
