"""tools/export_backbone.py on a real Runner checkpoint: the file loads with every key, and identical outputs, into
TimmStageBackbone (``pretrained=``, ``init_cfg``) and into plain timm; bad inputs fail with a clear message."""
import os
import re
import runpy

import pytest
import timm
import torch
from _helpers import ROOT, loader_opts, run_tool
from safetensors import safe_open

import mixskd_mm  # noqa: F401  (weights-only loading of mmengine checkpoints)
from mixskd_mm.export.backbone_file import save_backbone
from mixskd_mm.models.backbones import TimmStageBackbone
from mixskd_mm.weights.files import load_weights_file

CONFIG = 'configs/mixskd/ce_test-resnet_1xb64-10e_fashion-mnist.py'
ALL_STAGES = (0, 1, 2, 3, 4)  # the stem too: every feature map timm's features_only returns for test_resnet


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory, fake_fashion_mnist):
    """``epoch_1.pth`` of 2 training iterations (40 images in batches of 20) of the CE test-resnet recipe."""
    work = tmp_path_factory.mktemp('export_run')
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'param_scheduler=[]',
            'train_dataloader.dataset.num_per_class=None'] + loader_opts(fake_fashion_mnist)
    run_tool('tools/train.py', CONFIG, '--work-dir', str(work), '--cfg-options', *opts)
    return str(work / 'epoch_1.pth')


@pytest.fixture(scope='module')
def trained_backbone(checkpoint):
    """The checkpoint's backbone tensors (``backbone.`` stripped), straight from the file."""
    state = torch.load(checkpoint, map_location='cpu')['state_dict']
    return {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}


@pytest.fixture(scope='module')
def exported(checkpoint, tmp_path_factory):
    """``(path, tool output)`` of the safetensors export."""
    out = str(tmp_path_factory.mktemp('export') / 'backbone.safetensors')
    proc = run_tool('tools/export_backbone.py', checkpoint, out)
    return out, proc.stdout


def _reference(trained_backbone):
    model = TimmStageBackbone('test_resnet', out_indices=ALL_STAGES)
    model.load_state_dict(trained_backbone, strict=True)
    return model.eval()


def _same_outputs(model, reference):
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got, want = model.eval()(x), reference(x)
    assert len(got) == len(want) == len(ALL_STAGES)
    for g, w in zip(got, want):
        assert torch.equal(g, w)


def test_export_reports_the_tensor_count_and_metadata(exported, trained_backbone):
    path, out = exported
    found = re.search(r'exported (\d+) backbone tensors of test_resnet to (\S+)', out)
    assert found and int(found.group(1)) == len(trained_backbone) and found.group(2) == path
    with safe_open(path, framework='pt') as f:
        meta, keys = f.metadata(), set(f.keys())
    assert keys == set(trained_backbone)  # timm's own key names, nothing else (no head, no prefix)
    assert meta['model_name'] == 'test_resnet' and meta['out_indices'] == '[1, 2, 3, 4]'
    assert meta['format'] == 'mixskd_mm.backbone'
    # the run and its position, as the checkpoint records them (ExportBackboneHook writes the same)
    assert re.fullmatch(r'ce_test-resnet_1xb64-10e_fashion-mnist_\d{8}_\d{6} epoch 1 iter 2', meta['source'])


def test_every_key_loads(exported, trained_backbone):
    report = load_weights_file(TimmStageBackbone('test_resnet'), exported[0], expected_arch='test_resnet')
    assert len(report['matched']) == len(trained_backbone)
    assert not report['missing'] and not report['unexpected'] and not report['mismatched']


def test_pretrained_file_gives_identical_outputs(exported, trained_backbone):
    model = TimmStageBackbone('test_resnet', out_indices=ALL_STAGES, pretrained=exported[0])
    _same_outputs(model, _reference(trained_backbone))


def test_init_cfg_pretrained_gives_identical_outputs(exported, trained_backbone):
    model = TimmStageBackbone('test_resnet', out_indices=ALL_STAGES,
                              init_cfg=dict(type='Pretrained', checkpoint=exported[0]))
    model.init_weights()
    _same_outputs(model, _reference(trained_backbone))


def test_plain_timm_features_only_gives_identical_outputs(exported, trained_backbone):
    model = timm.create_model('test_resnet', features_only=True, pretrained=True, out_indices=ALL_STAGES,
                              pretrained_cfg_overlay=dict(file=exported[0]))
    own = model.state_dict()
    assert set(own) == set(trained_backbone) and all(torch.equal(own[k], trained_backbone[k]) for k in own)
    _same_outputs(model, _reference(trained_backbone))


def test_pth_export_loads_with_the_backbone_prefix(checkpoint, trained_backbone, tmp_path):
    from mmengine.runner import load_checkpoint
    out = str(tmp_path / 'backbone.pth')
    proc = run_tool('tools/export_backbone.py', checkpoint, out)
    assert f'exported {len(trained_backbone)} backbone tensors' in proc.stdout
    saved = torch.load(out, map_location='cpu', weights_only=True)
    assert set(saved['state_dict']) == {'backbone.' + k for k in trained_backbone}
    model = TimmStageBackbone('test_resnet', out_indices=ALL_STAGES,
                              init_cfg=dict(type='Pretrained', checkpoint=out, prefix='backbone.'))
    model.init_weights()
    _same_outputs(model, _reference(trained_backbone))
    # a detector-level load of the same file (mmengine's own loader) fills `.backbone`
    detector = torch.nn.Module()
    detector.backbone = TimmStageBackbone('test_resnet', out_indices=ALL_STAGES)
    load_checkpoint(detector, out, map_location='cpu', strict=True)
    _same_outputs(detector.backbone, _reference(trained_backbone))


def test_checkpoint_without_backbone_is_a_clear_error(tmp_path):
    ckpt, out = str(tmp_path / 'head_only.pth'), tmp_path / 'out.safetensors'
    torch.save({'state_dict': {'head.fc.weight': torch.zeros(10, 4), 'head.fc.bias': torch.zeros(10)}, 'meta': {}},
               ckpt)
    proc = run_tool('tools/export_backbone.py', ckpt, str(out), check=False)
    assert proc.returncode != 0
    assert "holds no backbone: no key starts with 'backbone.'" in proc.stderr and 'head.fc.weight' in proc.stderr
    assert not out.exists()


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    tool = runpy.run_path(os.path.join(ROOT, 'tools', 'export_backbone.py'), run_name='export_backbone')
    with pytest.raises(SystemExit, match=r"error: checkpoint not found: '.*nope\.pth'"):
        tool['main']([str(tmp_path / 'nope.pth'), str(tmp_path / 'out.safetensors')])


def test_other_architecture_fails_loudly(exported, tmp_path):
    with pytest.raises(RuntimeError, match=r"exported from 'test_resnet', a different architecture"):
        TimmStageBackbone('resnet18', pretrained=exported[0])
    model = TimmStageBackbone('resnet18', init_cfg=dict(type='Pretrained', checkpoint=exported[0]))
    with pytest.raises(RuntimeError, match=r"exported from 'test_resnet'"):
        model.init_weights()


@pytest.mark.parametrize('suffix', ['.safetensors', '.pth'])
def test_deeper_model_of_the_same_family_is_refused(tmp_path, suffix):
    """resnet34's keys include all of resnet18's, same shapes: only the recorded model name tells them apart."""
    deeper = TimmStageBackbone('resnet34')
    path = save_backbone(deeper.state_dict(), str(tmp_path / f'resnet34{suffix}'), deeper.export_metadata())
    init_cfg = dict(type='Pretrained', checkpoint=path, prefix='backbone.' if suffix == '.pth' else None)
    model = TimmStageBackbone('resnet18', init_cfg=init_cfg)
    with pytest.raises(RuntimeError, match=r"exported from 'resnet34', a different architecture"):
        model.init_weights()


def test_a_truncated_or_wrong_checkpoint_and_a_wrong_out_are_named(tmp_path):
    tool = runpy.run_path(os.path.join(ROOT, 'tools', 'export_backbone.py'), run_name='export_backbone')['main']
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': {'backbone.conv1.weight': torch.ones(64, 3, 7, 7)}, 'meta': {}}, str(ckpt))
    good = ckpt.read_bytes()
    ckpt.write_bytes(good[:len(good) // 2])
    out = tmp_path / 'out.safetensors'
    with pytest.raises(SystemExit, match=r"^error: checkpoint '.*epoch_1\.pth' is truncated or damaged: a torch "
                                         r"checkpoint is a zip archive.*tools/export_backbone\.py"):
        tool([str(ckpt), str(out)])
    with pytest.raises(SystemExit, match=rf"^error: checkpoint '{tmp_path}' is a folder; expected a \.safetensors"):
        tool([str(tmp_path), str(out)])
    ckpt.write_bytes(good)
    with pytest.raises(SystemExit, match=rf"^error: OUT '{tmp_path}' is a folder; expected a file name ending in "
                                         r"\.safetensors or \.pth"):
        tool([str(ckpt), str(tmp_path)])
    taken = tmp_path / 'taken'
    taken.write_text('x')
    with pytest.raises(SystemExit, match=r"^error: --format timm writes a folder, but '.*taken' is an existing file"):
        tool([str(ckpt), str(taken), '--format', 'timm'])
    with pytest.raises(SystemExit, match=r"^error: --work-dir '.*nowhere' is not a folder; expected the run's work"):
        tool([str(ckpt), str(tmp_path / 'folder'), '--format', 'timm', '--work-dir', str(tmp_path / 'nowhere')])
    assert not out.exists()
