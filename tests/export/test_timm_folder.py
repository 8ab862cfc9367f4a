"""Timm folders of backbones plain timm cannot build (CIFAR stem, no stem activation, dropped head units) say so and
make timm fail, yet load into TimmStageBackbone; bad folders and bad requests fail with messages naming the fix."""
import json
import os
import re

import pytest
import timm
import torch
from _helpers import ROOT, run_tool
from mmengine.config import Config

import mixskd_mm  # noqa: F401
from mixskd_mm.models.backbones import TimmStageBackbone
from mixskd_mm.registry import MODELS

CE_CONFIG = os.path.join(ROOT, 'configs', 'mixskd', 'ce_test-resnet_1xb64-10e_fashion-mnist.py')


def _checkpoint(tmp_path, name='model.pth', with_cfg=True, **backbone):
    """A real ImageClassifier of the CE recipe with ``backbone`` overrides, saved as tools/train.py saves it.

    The recipe keeps its weights channels-last; the model returned is converted to contiguous memory after saving, the
    layout of the models loaded from the export. oneDNN picks its kernels by memory layout (and CPU and thread count),
    so fp32 outputs of the two layouts differ in the last bits on some CPUs; in one layout, one process and one thread
    count the same weights give bit-identical outputs, which the tests below check with ``torch.equal``.
    """
    cfg = Config.fromfile(CE_CONFIG)
    cfg.model.backbone.update(backbone)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    meta = dict(cfg=cfg.pretty_text, experiment_name='ce_probe_20260101_000000', epoch=1, iter=2) if with_cfg else {}
    path = str(tmp_path / name)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return path, model.to(memory_format=torch.contiguous_format)


def _export(tmp_path, checkpoint, *extra, check=True):
    out = str(tmp_path / 'folder')
    return out, run_tool('tools/export_backbone.py', checkpoint, out, '--format', 'timm', *extra, check=check)


@pytest.mark.parametrize('name,options', [('test_resnet', dict(stem_act=False)),
                                          ('resnet18', dict(cifar_stem=True, stem_act=False))])
def test_a_stem_timm_lacks_is_stated_refused_by_timm_and_loaded_by_us(tmp_path, name, options):
    ckpt, model = _checkpoint(tmp_path, model_name=name, **options)
    out, proc = _export(tmp_path, ckpt)
    assert 'note: plain timm cannot build this network' in proc.stdout
    config = json.load(open(os.path.join(out, 'config.json')))
    assert config['architecture'] == name and config['model_args'] == options
    assert config['mixskd_mm']['timm_compatible'] is False
    reasons = ' '.join(config['mixskd_mm']['not_timm_compatible_because'])
    assert all(option in reasons for option in ('stem_act=False',) + (('CIFAR stem',) if 'cifar_stem' in options
                                                                        else ()))
    card = open(os.path.join(out, 'README.md')).read()
    assert '**Plain timm cannot build this network**' in card and 'stem_act=False' in card
    with pytest.raises(TypeError, match='unexpected keyword argument'):
        timm.create_model(f'local-dir:{out}', pretrained=True)
    backbone = TimmStageBackbone(name, pretrained=f'local-dir:{out}', **options).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    # the tensors too: a fresh timm init zeroes each block's last BN scale, which hides that block's conv2 from outputs
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in backbone.state_dict().items())
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(backbone(x), model.backbone.eval()(x)))
    with pytest.raises(RuntimeError, match=r'stem_act=False.*Set `stem_act=False` on TimmStageBackbone'):
        TimmStageBackbone(name, pretrained=f'local-dir:{out}', **dict(options, stem_act=True))


def test_head_units_the_backbone_dropped_make_the_folder_not_timm_buildable(tmp_path):
    ckpt, model = _checkpoint(tmp_path, model_name='test_convnext', out_indices=(0, 1, 2, 3))
    out, _ = _export(tmp_path, ckpt)
    config = json.load(open(os.path.join(out, 'config.json')))
    assert config['mixskd_mm']['timm_compatible'] is False
    assert 'head.norm.weight' in config['mixskd_mm']['not_timm_compatible_because'][0]
    with pytest.raises(RuntimeError, match='head.norm.weight'):  # timm's strict load: never a silent partial load
        timm.create_model(f'local-dir:{out}', pretrained=True)
    backbone = TimmStageBackbone('test_convnext', out_indices=(0, 1, 2, 3),
                                 init_cfg=dict(type='Pretrained', checkpoint=f'local-dir:{out}'))
    backbone.init_weights()
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in backbone.state_dict().items())


def test_no_classifier_exports_num_classes_0(tmp_path):
    ckpt, model = _checkpoint(tmp_path)
    out, _ = _export(tmp_path, ckpt, '--no-classifier')
    config = json.load(open(os.path.join(out, 'config.json')))
    assert config['num_classes'] == 0 and 'label_names' not in config and config['mixskd_mm']['timm_compatible']
    plain = timm.create_model(f'local-dir:{out}', pretrained=True).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(plain.forward_features(x), model.backbone.eval()(x)[-1])


@pytest.fixture
def good_folder(tmp_path):
    """A test_resnet folder written in-process by the function the CLI calls (the CLI runs in the tests above)."""
    from mixskd_mm.export.backbone_file import read_checkpoint
    from mixskd_mm.export.timm_folder import write_timm_folder
    out = str(tmp_path / 'folder')
    write_timm_folder(*read_checkpoint(_checkpoint(tmp_path)[0]), out)
    return out


def test_folder_without_safetensors_is_refused(good_folder):
    os.replace(os.path.join(good_folder, 'model.safetensors'), os.path.join(good_folder, 'pytorch_model.bin'))
    with pytest.raises(FileNotFoundError, match=r"no model\.safetensors \(it holds \['README.md', 'config.json', "
                                                r"'pytorch_model.bin'\]\)\. Only safetensors weights are read "
                                                r"\(other formats would need unpickling\).*export_backbone.py"):
        TimmStageBackbone('test_resnet', pretrained=f'local-dir:{good_folder}')


def test_other_architecture_in_config_json_is_refused(good_folder):
    with pytest.raises(ValueError, match=r"config.json says architecture 'test_resnet', but the backbone is "
                                         r"'resnet18'. Set model_name='test_resnet'"):
        TimmStageBackbone('resnet18', pretrained=f'local-dir:{good_folder}')


def test_missing_folder_or_config_is_refused(good_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'is not a folder.*--format timm'):
        TimmStageBackbone('test_resnet', pretrained=f'local-dir:{tmp_path / "nope"}')
    os.remove(os.path.join(good_folder, 'config.json'))
    with pytest.raises(FileNotFoundError, match=r'the folder has no config.json'):
        TimmStageBackbone('test_resnet', pretrained=f'local-dir:{good_folder}')


def test_cli_refuses_a_checkpoint_without_config_and_a_file_name(tmp_path):
    ckpt, _ = _checkpoint(tmp_path, with_cfg=False)
    out, proc = _export(tmp_path, ckpt, check=False)
    assert proc.returncode != 0 and 'records no training config' in proc.stderr and not os.path.exists(out)
    proc = run_tool('tools/export_backbone.py', ckpt, str(tmp_path / 'x.safetensors'), '--format', 'timm',
                    check=False)
    assert proc.returncode != 0 and re.search(r'--format timm writes a folder', proc.stderr)


def test_readme_publishes_and_loads_with_the_tested_names():
    """The README's export command is the one tested here; its upload line calls huggingface_hub's real API."""
    import inspect

    from huggingface_hub import upload_folder
    text = open(os.path.join(ROOT, 'README.md')).read()
    assert 'python tools/export_backbone.py work_dirs/NAME/epoch_N.pth work_dirs/NAME/timm_model --format timm' in text
    (call,) = re.findall(r'from huggingface_hub import upload_folder; upload_folder\((.*)\)"', text)
    assert set(re.findall(r'(\w+)=', call)) <= set(inspect.signature(upload_folder).parameters)
    assert "timm.create_model('hf-hub:ORG/NAME', pretrained=True)" in text
    assert "init_cfg=dict(type='Pretrained', checkpoint='hf-hub:ORG/NAME')" in text
