"""Grad-CAM of a trained deployable model looks where the class is decided: a tiny CNN trained by tools/train.py on
synthetic images whose class is the orientation of stripes in a patch at a known place (a distractor patch of random
orientation elsewhere); its map peaks inside that patch. tools/vis_cam.py on the run's config + checkpoint and on the
timm folder tools/export_backbone.py writes from it."""
import json
import os

import numpy as np
import pytest
from _helpers import ROOT, run_tool
from PIL import Image

from mixskd_mm.cli.vis_cam import main as vis_cam
from mixskd_mm.datasets.imagenet import read_rgb
from mixskd_mm.visualization.deployable import load_deployable
from mixskd_mm.visualization.grad_cam import grad_cam

SIZE = 160  # test_resnet's last stage has stride 32: a 5 x 5 map
#: the class is decided here (rows, columns): inside the image, away from its corner (where an all-zero map peaks)
PATCH = (slice(24, 88), slice(24, 88))
DISTRACTOR = (slice(104, 152), slice(104, 152))  # stripes of a random orientation: no information
CLASSES = ('horizontal', 'vertical')
EPOCHS = 10


def stripes(vertical: bool, side: int) -> np.ndarray:
    line = np.tile(np.repeat(np.array([0, 255], np.uint8), 8), side // 16)
    return np.tile(line, (side, 1)) if vertical else np.tile(line[:, None], (1, side))


def synthetic_image(label: int, rng: np.random.Generator) -> np.ndarray:
    img = rng.integers(90, 166, (SIZE, SIZE), dtype=np.uint8)
    img[PATCH] = stripes(bool(label), 64)
    img[DISTRACTOR] = stripes(bool(rng.integers(2)), 48)
    return np.repeat(img[:, :, None], 3, axis=2)


def write_data(root, counts=(('train', 48), ('val', 8)), seed=0):
    rng = np.random.default_rng(seed)
    for split, count in counts:
        for label, name in enumerate(CLASSES):
            os.makedirs(root / split / name)
            for i in range(count):
                Image.fromarray(synthetic_image(label, rng)).save(root / split / name / f'{i}.png')


CONFIG = """_base_ = ['{root}/configs/_base_/default_runtime.py']
model = dict(type='ImageClassifier', num_classes=2,
             backbone=dict(type='TimmStageBackbone', model_name='test_resnet'),
             data_preprocessor=dict(type='ClsDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3))
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(batch_size=16, sampler=dict(type='DefaultSampler', shuffle=True), **loader,
                        dataset=dict(type='ImageNet', data_root='{data}', split='train', pipeline=[]))
val_dataloader = dict(batch_size=16, sampler=dict(type='DefaultSampler', shuffle=False), **loader,
                      dataset=dict(type='ImageNet', data_root='{data}', split='val',
                                   pipeline=[dict(type='Resize', size={size}), dict(type='CenterCrop', size={size})]))
val_evaluator = dict(type='MultiExitAccuracy', topk=(1,))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = []
train_cfg = dict(by_epoch=True, max_epochs={epochs}, val_interval={epochs})
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=3), checkpoint=dict(save_best=None, max_keep_ckpts=1))
"""


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """``(config, checkpoint, data folder)`` of a test_resnet trained by tools/train.py on the patch task."""
    root = tmp_path_factory.mktemp('patch')
    write_data(root / 'data')
    config = root / 'patch_cfg.py'
    config.write_text(CONFIG.format(root=ROOT, data=root / 'data', epochs=EPOCHS, size=SIZE))
    run_tool('tools/train.py', str(config), '--work-dir', str(root / 'work'))
    return str(config), str(root / 'work' / f'epoch_{EPOCHS}.pth'), root / 'data'


def inside(point, region) -> bool:
    (row, col), (rows, cols) = point, region
    return rows.start <= row < rows.stop and cols.start <= col < cols.stop


def test_the_map_of_the_trained_model_peaks_inside_the_deciding_patch(trained):
    config, checkpoint, data = trained
    deployable = load_deployable(config, checkpoint)
    assert deployable.layer_name == 'backbone.layer4' and deployable.classes is None
    paths = [data / 'val' / name / f'{i}.png' for name in CLASSES for i in range(3)]
    maps = grad_cam(deployable, [read_rgb(str(p)) for p in paths])
    assert [m.predicted for m in maps] == [0, 0, 0, 1, 1, 1], 'the model did not learn the task'
    assert all(inside(m.peak, PATCH) for m in maps), [m.peak for m in maps]
    assert all(m.cam.shape == (SIZE, SIZE) and m.overlay().shape == (SIZE, SIZE, 3) for m in maps)


def test_vis_cam_on_the_checkpoint_and_on_its_timm_folder_agree(trained, tmp_path):
    config, checkpoint, data = trained
    folder = str(tmp_path / 'timm')
    run_tool('tools/export_backbone.py', checkpoint, folder, '--format', 'timm')
    assert json.loads((tmp_path / 'timm' / 'config.json').read_text())['label_names'] == list(CLASSES)
    images = [str(data / 'val' / name / '3.png') for name in CLASSES]
    from_checkpoint = vis_cam([config, checkpoint, *images, '--out', str(tmp_path / 'a')])
    from_folder = vis_cam([folder, *images, '--out', str(tmp_path / 'b')])
    assert [r['predicted'] for r in from_checkpoint] == [0, 1] == [r['predicted'] for r in from_folder]
    assert [r['label'] for r in from_folder] == list(CLASSES)  # the folder names its classes
    assert [r['peak'] for r in from_checkpoint] == [r['peak'] for r in from_folder]
    assert all(inside(r['peak'], PATCH) for r in from_folder)
    for r in from_checkpoint + from_folder:
        assert r['prob'] == pytest.approx([x for x in from_folder if x['image'] == r['image']][0]['prob'], abs=1e-4)
        assert os.path.isfile(r['png']) and r['png'].endswith('3_cam.png')
    explained = vis_cam([folder, images[0], '--out', str(tmp_path / 'c'), '--target-class', '1'])
    assert explained[0]['target'] == 1 and explained[0]['predicted'] == 0


@pytest.mark.parametrize('case, message', [
    ('no_image', 'no IMAGE given'), ('missing_image', 'image(s) not found'), ('missing_config', 'config not found'),
    ('detector', "not a classifier of mixskd_mm"), ('folder_and_checkpoint', 'holds its own weights'),
    ('bad_class', 'target class 7 is not one of'), ('missing_checkpoint', 'checkpoint not found')])
def test_vis_cam_refuses_bad_input_with_a_clear_error(trained, tmp_path, case, message):
    config, checkpoint, data = trained
    image = str(data / 'val' / 'vertical' / '0.png')
    detector = os.path.join(ROOT, 'configs/demo/retinanet_test-resnet_fpn_1xb8-300i_composed-fashion.py')
    argv = dict(no_image=[config, checkpoint], missing_image=[config, checkpoint, 'nowhere.png'],
                missing_config=['nowhere.py', checkpoint, image], detector=[detector, checkpoint, image],
                folder_and_checkpoint=[str(data), checkpoint, image],
                bad_class=[config, checkpoint, image, '--target-class', '7'],
                missing_checkpoint=[config, 'nowhere.pth', image])[case]
    with pytest.raises(SystemExit) as stop:
        vis_cam([*argv, '--out', str(tmp_path)])
    assert message in str(stop.value)


def test_the_layer_is_the_deepest_stage_fine_enough_at_the_input_size(trained):
    config, checkpoint, _ = trained
    from mixskd_mm.visualization.deployable import from_checkpoint
    # test_resnet's stages have strides 4, 8, 16, 32: at 28 px the last one is a single cell
    assert from_checkpoint(config, checkpoint, 224, 3).layer_name == 'backbone.layer4'  # 7x7
    assert from_checkpoint(config, checkpoint, 28, 3).layer_name == 'backbone.layer2'  # 4x4; layer3 would be 2x2
    assert from_checkpoint(config, checkpoint, 8, 3).layer_name == 'backbone.layer1'  # none has 3: the first
    assert from_checkpoint(config, checkpoint).layer_name == 'backbone.layer4'  # without a size: the last stage
