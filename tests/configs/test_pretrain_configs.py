"""Every pretraining config in configs/mixskd/ trains 2 iterations and validates through tools/train.py."""
import glob
import json
import os

import pytest
import torch
from _helpers import ROOT, loader_opts, run_tool

import mixskd_mm  # noqa: F401  (weights-only loading of Runner checkpoints)

CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'mixskd', '*.py')))


@pytest.fixture(scope='module')
def resnet50_source(tmp_path_factory):
    """A pretrained source the test makes (no ImageNet weights reach these machines): a ResNet-50 backbone file."""
    from safetensors.torch import save_file

    from mixskd_mm.models.backbones import TimmStageBackbone
    backbone = TimmStageBackbone('resnet50')
    path = str(tmp_path_factory.mktemp('source') / 'backbone.safetensors')
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, path, metadata=backbone.export_metadata())
    return path


def _options(config, fake_cifar100, fake_imagenet, fake_fashion_mnist, source=None):
    name = os.path.basename(config)
    if 'cifar100' in name:
        root, batch, extra = fake_cifar100, 4, []
    elif 'in1k' in name:
        root, batch, extra = fake_imagenet, 2, ['model.num_classes=2']  # the fake has 2 class folders
        # ResNet-50 on 64-px crops instead of 224 (the wiring is what is tested; 12x fewer pixels per step)
        extra += ['train_dataloader.dataset.pipeline.0.size=64', 'val_dataloader.dataset.pipeline.0.size=72',
                  'val_dataloader.dataset.pipeline.1.size=64']
    elif 'fashion-mnist' in name:
        root, batch, extra = fake_fashion_mnist, 20, ['train_dataloader.dataset.num_per_class=None']
    else:
        pytest.fail(f'no fake data known for {name}; add it to this test')
    opts = loader_opts(root, batch=batch) + extra
    if '-pre_' in name:  # fine-tuning recipes start from timm's weights: here from a file the test made
        opts.append(f'model.backbone.pretrained={source}')
    # 2 iterations, then one validation
    return opts + ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                   'default_hooks.logger.interval=1', 'param_scheduler=[]']


def test_every_config_is_covered():
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize('config', CONFIGS, ids=os.path.basename)
def test_config_trains_two_iterations_and_validates(config, tmp_path, fake_cifar100, fake_imagenet,
                                                    fake_fashion_mnist, resnet50_source):
    opts = _options(config, fake_cifar100, fake_imagenet, fake_fashion_mnist, resnet50_source)
    proc = run_tool('tools/train.py', config, '--work-dir', str(tmp_path), '--cfg-options', *opts)
    if '-pre_' in config:
        assert f'loaded {resnet50_source}: 318/318 tensors matched' in proc.stdout + proc.stderr
    logs = glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
    assert logs, 'no scalars.json written'
    records = [json.loads(line) for line in open(logs[0])]
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == [1, 2]
    val = [r for r in records if 'accuracy/top1' in r]
    assert len(val) == 1 and 0 <= val[0]['accuracy/top1'] <= 100
    if os.path.basename(config).startswith('mixskd'):
        assert {'loss_ce', 'loss_mix_ce', 'loss_kd', 'loss_feat', 'loss_adv'} <= set(train[0])
        assert 'accuracy/self_teacher_top1' in val[0] and 'accuracy/exit1_top1' in val[0]
        saved = torch.load(str(tmp_path / 'epoch_1.pth'), map_location='cpu')['state_dict']
        assert any(k.startswith('adv_loss.discriminators.') for k in saved)  # trained and saved
    assert os.path.isfile(tmp_path / 'backbone.safetensors')
    assert os.path.isfile(tmp_path / 'epoch_1.pth')


def _train_losses(work_dir, config, opts):
    run_tool('tools/train.py', config, '--work-dir', str(work_dir), '--cfg-options', *opts)
    log = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))[0]
    return [json.loads(line) for line in open(log) if '"loss"' in line]


def test_selective_recomputation_from_the_command_line_trains_the_same(tmp_path, fake_fashion_mnist):
    """``with_cp='selective'`` in backbone and exits via --cfg-options: the same losses, iteration by iteration."""
    config = os.path.join(ROOT, 'configs', 'mixskd', 'mixskd_test-resnet_1xb64-10e_fashion-mnist.py')
    opts = _options(config, None, None, fake_fashion_mnist) + ['randomness.seed=3']
    plain = _train_losses(tmp_path / 'plain', config, opts)
    selective = _train_losses(tmp_path / 'selective', config,
                              opts + ['model.backbone.with_cp=selective', 'model.exit_with_cp=selective'])
    assert len(plain) == len(selective) == 2
    for a, b in zip(plain, selective):
        for key in ('loss', 'loss_ce', 'loss_mix_ce', 'loss_kd', 'loss_feat', 'loss_adv'):
            assert abs(a[key] - b[key]) <= 1e-4 * max(1.0, abs(a[key])), (key, a[key], b[key])
