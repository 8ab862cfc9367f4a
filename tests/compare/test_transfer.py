"""mixskd_mm.compare.transfer: leaves over mmdet's / mmseg's own configs and over our recipes on a data folder train
2 iterations and evaluate through tools/train.py from an exported test_resnet backbone (every tensor loaded, the
returned metric logged); class names with spaces and digits survive; unsupported layouts fail with a clear message.
"""
import json
import math
import os
import os.path as osp
import shutil

import mmdet
import mmseg
import pytest
import torch
from _helpers import run_tool
from _transfer_data import ONE_THREAD, backbone_load_report, cpu_options, dataset_root, scalars
from mmengine.config import Config

from mixskd_mm.compare.transfer import (
    metric_key,
    schedule_options,
    write_folder_leaf,
    write_user_leaf,
)
from mixskd_mm.datasets.scenes import write_composed_dataset

MMDET_CONFIGS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
MMSEG_CONFIGS = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs')
RETINANET = osp.join(MMDET_CONFIGS, 'retinanet', 'retinanet_r50_fpn_1x_coco.py')
FCN = osp.join(MMSEG_CONFIGS, 'fcn', 'fcn_r50-d8_4xb4-80k_ade20k-512x512.py')
CHANNELS = [32, 48, 192, 96]  # test_resnet's C2..C5
CONVNEXT_CHANNELS = [24, 32, 48, 64]  # test_convnext's: timm lists no stem stage, C2..C5 are its stages 0..3
README_SECTION = 'Use a MixSKD backbone in your own mmdet/mmseg config'
#: one process, no workers, 2 images a batch, a log line every iteration
LOADERS = ['default_hooks.logger.interval=1', 'train_dataloader.batch_size=2'] + [
    f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
    for key in ('num_workers=0', 'persistent_workers=False')]


def _export(path, model_name='test_resnet', out_indices=(1, 2, 3, 4), **kwargs):
    from mixskd_mm.export.backbone_file import save_backbone
    from mixskd_mm.models.backbones import TimmStageBackbone
    torch.manual_seed(0)
    backbone = TimmStageBackbone(model_name, out_indices=out_indices, **kwargs)
    save_backbone(backbone.state_dict(), str(path), backbone.export_metadata())
    return str(path)


@pytest.fixture(scope='module')
def backbone_file(tmp_path_factory):
    """A randomly initialised test_resnet TimmStageBackbone, exported as tools/export_backbone.py does."""
    return _export(tmp_path_factory.mktemp('transfer_backbone') / 'test_resnet.safetensors')


@pytest.fixture(scope='module')
def convnext_file(tmp_path_factory):
    """An exported test_convnext: other channels than the recipes' test_resnet, so their neck must change."""
    return _export(tmp_path_factory.mktemp('transfer_convnext') / 'test_convnext.safetensors', 'test_convnext',
                   out_indices=(0, 1, 2, 3))


@pytest.fixture(scope='module')
def composed_root(tmp_path_factory, fake_fashion_mnist):
    """4 train / 2 val composed scenes, in both the COCO and the label-map form."""
    out = tmp_path_factory.mktemp('transfer_composed')
    write_composed_dataset(str(out), data_root=fake_fashion_mnist, num_per_class=2, num_train=4, num_val=2)
    return str(out)


def _train(leaf, work, opts):
    """tools/train.py LEAF for 2 iterations; returns (tensors matched, tensors total, records, log)."""
    proc = run_tool('tools/train.py', leaf, '--work-dir', str(work), '--cfg-options', *opts, env=ONE_THREAD)
    log = proc.stdout + proc.stderr
    matched, total = backbone_load_report(log)
    records = scalars(work)
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == [1, 2] and all(math.isfinite(r['loss']) for r in train)
    return matched, total, records, log


def _logged(records, metric):
    values = [r[metric] for r in records if metric in r]
    assert len(values) == 1, f'{metric} was not logged once: {records}'
    return values[0]


# -- A: the user's own config ---------------------------------------------------------------------------------------
def test_mmdets_own_retinanet_trains_on_the_backbone_file(tmp_path, tmp_path_factory, backbone_file):
    leaf = str(tmp_path / 'retinanet_mixskd.py')
    info = write_user_leaf(RETINANET, 'det', backbone_file, leaf)
    assert info['config'] == leaf and info['metric'] == 'coco/bbox_mAP'
    assert any('model.neck.in_channels' in change for change in info['changes'])
    cfg = Config.fromfile(leaf)
    backbone = cfg.model.backbone
    assert backbone.type == 'mixskd_mm.TimmStageBackbone' and backbone.model_name == 'test_resnet'
    assert 'depth' not in backbone and 'style' not in backbone  # the ResNet's own keys are gone
    assert backbone.out_indices == (1, 2, 3, 4) and backbone.frozen_stages == 1 and backbone.norm_eval is True
    assert backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert backbone.init_cfg == dict(type='Pretrained', checkpoint=backbone_file)
    assert cfg.model.neck.in_channels == CHANNELS and cfg.model.neck.start_level == 1  # the rest of the neck stays
    assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train2017.json'  # the user's data stays

    opts = [o for o in cpu_options(cfg.to_dict(), dataset_root(tmp_path_factory, 'coco'), backbone_file)
            if not o.startswith('model.backbone.init_cfg')]  # the leaf's own checkpoint path is what loads
    # one epoch of 4 images in batches of 2; an untrained head scores below 0.05: keep its boxes so AP is computed
    opts += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'default_hooks.checkpoint=None',
             'model.test_cfg.score_thr=0']
    matched, total, records, log = _train(leaf, tmp_path / 'work', opts)
    assert matched == total == 90 and f'loaded {backbone_file}' in log
    assert 0 <= _logged(records, info['metric']) <= 1


def test_mmsegs_own_dilated_fcn_trains_on_the_backbone_file(tmp_path, tmp_path_factory, backbone_file):
    leaf = str(tmp_path / 'fcn_mixskd.py')
    info = write_user_leaf(FCN, 'seg', backbone_file, leaf, cfg_options={'train_dataloader.batch_size': 2})
    assert info['metric'] == 'mIoU'
    assert {'model.decode_head.in_channels: 2048 -> 96 (in_index 3)',
            'model.auxiliary_head.in_channels: 1024 -> 192 (in_index 2)'} <= set(info['changes'])
    cfg = Config.fromfile(leaf)
    backbone = cfg.model.backbone
    assert backbone.output_stride == 8 and backbone.out_indices == (1, 2, 3, 4)  # ResNetV1c-D8
    assert backbone.norm_cfg == dict(type='SyncBN', requires_grad=True) and backbone.norm_eval is False
    assert 'dilations' not in backbone and 'contract_dilation' not in backbone
    assert cfg.model.pretrained is None
    assert (cfg.model.decode_head.in_channels, cfg.model.decode_head.in_index) == (CHANNELS[3], 3)
    assert (cfg.model.auxiliary_head.in_channels, cfg.model.auxiliary_head.in_index) == (CHANNELS[2], 2)
    assert cfg.model.decode_head.num_classes == 150 and cfg.train_dataloader.batch_size == 2

    opts = [o for o in cpu_options(cfg.to_dict(), dataset_root(tmp_path_factory, 'ade20k'), backbone_file)
            if not o.startswith('model.backbone.init_cfg')]
    opts += ['train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint=None']
    matched, total, records, log = _train(leaf, tmp_path / 'work', opts)
    assert matched == total == 90
    assert 'out_channels=[32, 48, 192, 96] strides=[4, 8, 8, 8]' in log  # dilated to output stride 8
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(next(r for r in records if 'loss' in r))
    assert 0 <= _logged(records, info['metric']) <= 100


def test_user_leaf_for_other_layouts(tmp_path, backbone_file, convnext_file):
    """Config-only: stages matched by stride (ConvNeXt), UPerNet (no neck, heads by in_index, undilated), Faster
    R-CNN on VOC (its metric, cfg_options inside a list)."""
    convnext = write_user_leaf(RETINANET, 'det', convnext_file, str(tmp_path / 'convnext.py'))
    convnext = Config.fromfile(convnext['config'])
    assert convnext.model.backbone.out_indices == (0, 1, 2, 3) and convnext.model.backbone.frozen_stages == 0
    assert convnext.model.neck.in_channels == CONVNEXT_CHANNELS
    upernet = write_user_leaf(osp.join(MMSEG_CONFIGS, 'upernet', 'upernet_r50_4xb4-80k_ade20k-512x512.py'), 'seg',
                              backbone_file, str(tmp_path / 'upernet.py'))
    cfg = Config.fromfile(upernet['config'])
    assert cfg.model.decode_head.in_channels == CHANNELS and cfg.model.auxiliary_head.in_channels == CHANNELS[2]
    assert 'output_stride' not in cfg.model.backbone and upernet['metric'] == 'mIoU'
    voc = write_user_leaf(osp.join(MMDET_CONFIGS, 'pascal_voc', 'faster-rcnn_r50_fpn_1x_voc0712.py'), 'det',
                          backbone_file, str(tmp_path / 'voc.py'),
                          cfg_options={'param_scheduler.0.end': 7, 'model.test_cfg.rcnn.score_thr': 0.0})
    cfg = Config.fromfile(voc['config'])
    assert voc['metric'] == 'pascal_voc/mAP' and cfg.model.neck.in_channels == CHANNELS
    assert cfg.param_scheduler[0].end == 7 and cfg.model.test_cfg.rcnn.score_thr == 0.0
    assert cfg.model.test_cfg.rcnn.nms.iou_threshold == 0.5  # merged, not replaced
    assert cfg.param_scheduler[0].milestones == [3]  # a list edited item by item is written whole


def test_user_leaf_refuses_what_it_cannot_convert(tmp_path, backbone_file):
    no_backbone = tmp_path / 'no_backbone.py'
    no_backbone.write_text("default_scope = 'mmdet'\nmodel = dict(type='RetinaNet')\n"
                           "val_evaluator = dict(type='CocoMetric')\n")
    with pytest.raises(ValueError, match='no model.backbone') as err:
        write_user_leaf(str(no_backbone), 'det', backbone_file, str(tmp_path / 'leaf.py'))
    assert README_SECTION in str(err.value)
    yolof = osp.join(MMDET_CONFIGS, 'yolof', 'yolof_r50-c5_8xb8-1x_coco.py')  # DilatedEncoder: in_channels=2048
    with pytest.raises(ValueError, match='in_channels=2048, not a list') as err:
        write_user_leaf(yolof, 'det', backbone_file, str(tmp_path / 'leaf.py'))
    assert README_SECTION in str(err.value)
    with pytest.raises(ValueError, match="is an mmdet config.*pass task='det'"):
        write_user_leaf(RETINANET, 'seg', backbone_file, str(tmp_path / 'leaf.py'))
    assert not (tmp_path / 'leaf.py').exists()


def test_a_file_without_metadata_is_refused(tmp_path):
    from safetensors.torch import save_file
    bare = str(tmp_path / 'bare.safetensors')
    save_file({'conv1.weight': torch.zeros(1)}, bare)
    with pytest.raises(ValueError, match='records no model_name'):
        write_user_leaf(RETINANET, 'det', bare, str(tmp_path / 'leaf.py'))


# -- B: our recipes on a data folder --------------------------------------------------------------------------------
def test_folder_leaf_detection_trains_on_composed_scenes(tmp_path, composed_root, convnext_file):
    leaf = str(tmp_path / 'det_leaf.py')
    info = write_folder_leaf(composed_root, 'det', convnext_file, leaf, iters=2)
    assert info['metric'] == 'coco/bbox_mAP'
    assert f'model.neck.in_channels: {CHANNELS} -> {CONVNEXT_CHANNELS}' in info['changes']
    with open(osp.join(composed_root, 'meta.json')) as f:
        classes = tuple(json.load(f)['classes'])
    assert 'Ankle boot' in classes and 'T-shirt/top' in classes  # a space and a slash
    cfg = Config.fromfile(leaf)
    assert cfg.model.backbone.model_name == 'test_convnext' and cfg.model.backbone.out_indices == (0, 1, 2, 3)
    assert cfg.model.neck.in_channels == CONVNEXT_CHANNELS and cfg.model.bbox_head.num_classes == len(classes)
    assert cfg.train_cfg.max_iters == 2 and cfg.param_scheduler[1].end == 2 and cfg.param_scheduler[1].T_max == 1
    assert cfg.val_evaluator.ann_file == osp.join(composed_root, 'annotations', 'instances_val.json')

    # no data or class option on the command line: the leaf carries them
    matched, total, records, _ = _train(leaf, tmp_path / 'work', LOADERS + ['model.test_cfg.score_thr=0.0'])
    assert matched == total == 97
    assert 0 <= _logged(records, info['metric']) <= 1
    dumped = Config.fromfile(str(tmp_path / 'work' / 'det_leaf.py'))
    for split in ('train', 'val', 'test'):
        assert dumped[f'{split}_dataloader'].dataset.metainfo.classes == classes
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()


def test_folder_leaf_segmentation_keeps_odd_class_names(tmp_path, composed_root, convnext_file):
    classes = ['background', '0', '7 up', 'Ankle boot', 'T-shirt/top', '12']  # label values 0..5
    leaf = str(tmp_path / 'seg_leaf.py')
    info = write_folder_leaf(composed_root, 'seg', convnext_file, leaf, iters=2, classes=classes)
    assert info['metric'] == 'mIoU'
    cfg = Config.fromfile(leaf)
    assert cfg.model.neck.in_channels == CONVNEXT_CHANNELS and cfg.model.decode_head.num_classes == 6
    assert cfg.train_dataloader.dataset.data_prefix == dict(img_path='images/train', seg_map_path='labels/train')

    matched, total, records, _ = _train(leaf, tmp_path / 'work', LOADERS)
    assert matched == total == 97
    assert 0 <= _logged(records, info['metric']) <= 100
    dumped = Config.fromfile(str(tmp_path / 'work' / 'seg_leaf.py'))
    for split in ('train', 'val', 'test'):
        metainfo = dumped[f'{split}_dataloader'].dataset.metainfo
        assert metainfo.classes == tuple(classes) and len(metainfo.palette) == len(classes)


def test_folder_leaf_reads_the_other_layouts(tmp_path, composed_root, backbone_file):
    """Config-only: COCO 2017 names with classes by category id; mmseg's img_dir/ann_dir with classes.txt."""
    coco = tmp_path / 'coco'
    for split in ('train', 'val'):
        with open(osp.join(composed_root, 'annotations', f'instances_{split}.json')) as f:
            ann = json.load(f)
        names = {1: '3', 2: 'Ankle boot', 3: '0', 4: 'x y', 5: 'z'}
        ann['categories'] = [dict(c, name=names[c['id']]) for c in reversed(ann['categories'])]  # not in id order
        (coco / 'annotations').mkdir(parents=True, exist_ok=True)
        (coco / 'annotations' / f'instances_{split}2017.json').write_text(json.dumps(ann))
        shutil.copytree(osp.join(composed_root, 'images', split), coco / f'{split}2017')
    info = write_folder_leaf(str(coco), 'det', backbone_file, str(tmp_path / 'coco.py'))
    cfg = Config.fromfile(info['config'])
    assert cfg.classes == ('3', 'Ankle boot', '0', 'x y', 'z') == cfg.val_dataloader.dataset.metainfo.classes
    assert cfg.train_dataloader.dataset.ann_file == 'annotations/instances_train2017.json'
    assert cfg.train_dataloader.dataset.data_prefix.img == 'train2017/'
    assert cfg.train_cfg.max_iters == 300  # no iters: the recipe's schedule
    with pytest.raises(ValueError, match='no category'):
        write_folder_leaf(str(coco), 'det', backbone_file, str(tmp_path / 'bad.py'), classes=['Sandal'])

    seg = tmp_path / 'seg'
    for split in ('train', 'val'):
        (seg / 'img_dir' / split).mkdir(parents=True)
        (seg / 'ann_dir' / split).mkdir(parents=True)
        (seg / 'img_dir' / split / 'a.jpg').write_bytes(b'')
        (seg / 'ann_dir' / split / 'a_labelTrainIds.png').write_bytes(b'')
    (seg / 'classes.txt').write_text('road\nside walk\n1\n')
    info = write_folder_leaf(str(seg), 'seg', backbone_file, str(tmp_path / 'seg.py'))
    dataset = Config.fromfile(info['config']).train_dataloader.dataset
    assert dataset.metainfo.classes == ('road', 'side walk', '1')
    assert (dataset.img_suffix, dataset.seg_map_suffix) == ('.jpg', '_labelTrainIds.png')
    assert dataset.data_prefix == dict(img_path='img_dir/train', seg_map_path='ann_dir/train')


def test_folder_leaf_refuses_a_folder_of_neither_layout(tmp_path, backbone_file):
    (tmp_path / 'images' / 'train').mkdir(parents=True)
    with pytest.raises(ValueError, match=r'annotations/instances_\{train,val\}\.json \+ images/\{train,val\}/.*'
                                         r'annotations/instances_\{train,val\}2017\.json \+ \{train,val\}2017/'):
        write_folder_leaf(str(tmp_path), 'det', backbone_file, str(tmp_path / 'leaf.py'))
    with pytest.raises(ValueError, match=r'img_dir/\{train,val\}/ \+ ann_dir/\{train,val\}/.*'
                                         r'images/\{train,val\}/ \+ labels/\{train,val\}/'):
        write_folder_leaf(str(tmp_path), 'seg', backbone_file, str(tmp_path / 'leaf.py'))
    assert not (tmp_path / 'leaf.py').exists()


def test_cifar_stem_backbone_scales_the_anchors(tmp_path, composed_root):
    cifar = _export(tmp_path / 'cifar.safetensors', 'resnet18', cifar_stem=True)  # test_resnet has a deep stem
    info = write_folder_leaf(composed_root, 'det', cifar, str(tmp_path / 'leaf.py'))
    cfg = Config.fromfile(info['config'])
    assert cfg.model.backbone.cifar_stem is True and cfg.model.backbone.model_name == 'resnet18'
    assert cfg.model.neck.in_channels == [64, 128, 256, 512]
    assert cfg.model.bbox_head.anchor_generator.strides == [2, 4, 8, 16, 32]  # P3..P7 of a 4x finer backbone


# -- both -----------------------------------------------------------------------------------------------------------
def test_leaves_are_deterministic_and_written_atomically(tmp_path, composed_root, backbone_file):
    for name in ('a', 'b'):
        write_user_leaf(FCN, 'seg', backbone_file, str(tmp_path / f'user_{name}.py'))
        write_folder_leaf(composed_root, 'det', backbone_file, str(tmp_path / f'folder_{name}.py'), iters=5)
    assert (tmp_path / 'user_a.py').read_bytes() == (tmp_path / 'user_b.py').read_bytes()
    assert (tmp_path / 'folder_a.py').read_bytes() == (tmp_path / 'folder_b.py').read_bytes()
    assert sorted(os.listdir(tmp_path)) == ['folder_a.py', 'folder_b.py', 'user_a.py', 'user_b.py']  # no temp files


def test_schedule_options_are_the_demos():
    assert schedule_options('detection', 300) == [
        'train_cfg.max_iters=300', 'train_cfg.val_interval=300', 'default_hooks.checkpoint.interval=300',
        'param_scheduler.0.end=50', 'param_scheduler.1.begin=50', 'param_scheduler.1.end=300',
        'param_scheduler.1.T_max=250']
    assert schedule_options('seg', 2) == [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
        'param_scheduler.0.end=1', 'param_scheduler.1.begin=1', 'param_scheduler.1.end=2']


def test_metric_keys():
    assert metric_key(dict(val_evaluator=dict(type='CocoMetric', metric=['segm', 'bbox']))) == 'coco/segm_mAP'
    assert metric_key(dict(val_evaluator=[dict(type='mmdet.VOCMetric'), dict(type='CocoMetric')])) == 'pascal_voc/mAP'
    assert metric_key(dict(val_evaluator=dict(type='IoUMetric', iou_metrics=['mDice'], prefix='val'))) == 'val/mDice'
    with pytest.raises(ValueError, match='not known here'):
        metric_key(dict(val_evaluator=dict(type='MyMetric')))
