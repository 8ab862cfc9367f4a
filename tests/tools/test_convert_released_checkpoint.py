"""tools/convert_released_checkpoint.py on checkpoints written here in the released Self-KD-Lib MixSKD layout
(``{'net', 'acc', 'epoch', 'optimizer'}``, spec 9.6): every backbone tensor arrives unchanged, the CIFAR file rebuilds
the released stem (and refuses any other), the ResNet-50 file drops into an mmdet and an mmseg config with every tensor
matched, and files that are not such checkpoints fail with a message naming what was expected.
"""
import argparse
import os
import re
import runpy

import pytest
import torch
import torchvision
from _helpers import ROOT, run_tool
from mmengine.config import Config
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

import mixskd_mm  # noqa: F401
from mixskd_mm.models.backbones import TimmStageBackbone
from mixskd_mm.weights import files as weights

TOOL = os.path.join(ROOT, 'tools', 'convert_released_checkpoint.py')
CIFAR_NAME, IMAGENET_NAME = 'MixSKD_CIFAR_ResNet18_best.pth.tar', 'MixSKD_ImageNet_ResNet50_best.pth.tar'
MMDET_CONFIG = os.path.join(ROOT, 'configs', 'mmdet', 'faster-rcnn_mixskd-r50_fpn_1x_coco.py')
MMSEG_CONFIG = os.path.join(ROOT, 'configs', 'mmseg', 'deeplabv3_mixskd-r50-d8_4xb4-40k_voc12aug-512x512.py')


# -- checkpoints in the released layout ------------------------------------------------------------------------------
def torchvision_resnet(arch: str, num_classes: int) -> nn.Module:
    """The released backbone's module tree, with torchvision's names: ResNet-50, or ResNet-18 with the CIFAR stem."""
    if arch == 'imagenet-resnet50':
        return torchvision.models.resnet50(num_classes=num_classes)
    net = torchvision.models.resnet18(num_classes=num_classes)
    net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


def randomised(state, seed):
    """Every tensor of ``state`` replaced by random values of its shape and dtype (BN variances positive), so that
    a key taking another key's tensor cannot go unnoticed."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state.items():
        if value.dtype.is_floating_point:
            new = torch.randn(value.shape, generator=gen)
            out[key] = new.abs() + 0.5 if key.endswith('running_var') else new
        else:
            out[key] = torch.randint(1, 10_000, value.shape, generator=gen, dtype=value.dtype)
    return out


def exit_tensors(backbone, num_classes, seed):
    """``auxiliary_classifier.*``: exit k is a copy of stages k+1..4 (``block_extractor{k}.{i}.<block keys>``) and a
    classifier ``fc{k}``; and ``final_aux_classifier.*``: the self-teacher's bias-free 1x1 conv and classifier.

    Views of one random buffer, so the file stays small; none equals a backbone tensor."""
    buffer = torch.randn(1 << 22, generator=torch.Generator().manual_seed(seed))

    def view(i, shape):
        if not shape:  # BatchNorm's num_batches_tracked
            return torch.tensor(1000 + i)
        strides = torch.empty(shape, device='meta').stride()
        if strides[0] * shape[0] >= buffer.numel():  # the ResNet-50 self-teacher conv: rows overlap
            strides = (1,) + strides[1:]
        span = sum((n - 1) * st for n, st in zip(shape, strides)) + 1
        return buffer.as_strided(shape, strides, (i * 7919) % (buffer.numel() - span))

    shapes = {}
    for k in (1, 2, 3):
        for i, stage in enumerate(range(k + 1, 5)):
            for key, value in backbone.items():
                if key.startswith(f'layer{stage}.'):
                    shapes[f'auxiliary_classifier.block_extractor{k}.{i}.{key[len("layer1."):]}'] = value.shape
        shapes[f'auxiliary_classifier.fc{k}.weight'] = backbone['fc.weight'].shape
        shapes[f'auxiliary_classifier.fc{k}.bias'] = backbone['fc.bias'].shape
    channels = backbone['fc.weight'].shape[1]
    shapes['final_aux_classifier.conv.weight'] = (channels, 4 * channels, 1, 1)
    shapes['final_aux_classifier.fc.weight'] = backbone['fc.weight'].shape
    shapes['final_aux_classifier.fc.bias'] = backbone['fc.bias'].shape
    return {key: view(i, shape) for i, (key, shape) in enumerate(shapes.items())}


def sgd_state():
    """A real ``optimizer.state_dict()`` of the released recipe's SGD (nesterov, momentum 0.9) after one step."""
    params = [nn.Parameter(torch.randn(4, 3)), nn.Parameter(torch.randn(4))]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sum(p.sum() for p in params).backward()
    opt.step()
    return opt.state_dict()


def released_checkpoint(path, arch, num_classes, seed=0, epoch=239, acc=0.8032, prefix=''):
    """Write a checkpoint in the released layout; returns its backbone tensors (timm / torchvision names)."""
    backbone = randomised(torchvision_resnet(arch, num_classes).state_dict(), seed)
    net = {f'backbone.{k}': v for k, v in backbone.items()}
    net.update(exit_tensors(backbone, num_classes, seed + 1))
    torch.save({'net': {prefix + k: v for k, v in net.items()}, 'acc': acc, 'epoch': epoch,
                'optimizer': sgd_state()}, str(path))
    return backbone


@pytest.fixture(scope='module')
def cifar(tmp_path_factory):
    """``(checkpoint path, backbone tensors)`` of a released-layout CIFAR-100 ResNet-18."""
    path = tmp_path_factory.mktemp('released_cifar') / CIFAR_NAME
    return str(path), released_checkpoint(path, 'cifar-resnet18', 100)


@pytest.fixture(scope='module')
def cifar_file(cifar, tmp_path_factory):
    """``(converted file, tool output)``: the CIFAR checkpoint through the command line."""
    out = str(tmp_path_factory.mktemp('converted_cifar') / 'resnet18_cifar.safetensors')
    proc = run_tool('tools/convert_released_checkpoint.py', cifar[0], out, env={'OMP_NUM_THREADS': '1'})
    return out, proc.stdout


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
    """``(checkpoint path, backbone tensors, converted file)`` of a released-layout ImageNet ResNet-50."""
    folder = tmp_path_factory.mktemp('released_imagenet')
    path, out = str(folder / IMAGENET_NAME), str(folder / 'resnet50.safetensors')
    backbone = released_checkpoint(path, 'imagenet-resnet50', 1000, seed=3, epoch=99, acc=0.7719)
    convert([path, out])
    return path, backbone, out


def convert(argv):
    """The tool's ``main`` in this process (what its command line does)."""
    return runpy.run_path(TOOL, run_name='convert_released_checkpoint')['main'](argv)


def file_contents(path):
    with safe_open(path, framework='pt') as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


def without_classifier(backbone):
    return {k: v for k, v in backbone.items() if not k.startswith('fc.')}


def assert_same_tensors(got, want):
    assert set(got) == set(want)
    different = [k for k in want if got[k].dtype != want[k].dtype or not torch.equal(got[k], want[k])]
    assert not different, f'changed on the way: {different[:5]}'


# -- the CIFAR ResNet-18 ------------------------------------------------------------------------------------------
def test_cifar_backbone_arrives_unchanged_with_the_released_stem_recorded(cifar, cifar_file):
    (src, backbone), (out, stdout) = cifar, cifar_file
    meta, tensors = file_contents(out)
    assert_same_tensors(tensors, without_classifier(backbone))  # timm keys; exits, self-teacher and fc dropped
    assert meta['format'] == 'mixskd_mm.backbone' and meta['model_name'] == 'resnet18'
    assert meta['out_indices'] == '[1, 2, 3, 4]' and meta['cifar_stem'] == 'true' and meta['stem_act'] == 'false'
    assert meta['source'] == f'{CIFAR_NAME} (Self-KD-Lib MixSKD_CIFAR_ResNet18, epoch 239, acc 0.8032)'
    exits = sum(k.startswith('auxiliary_classifier.') for k in torch.load(src, weights_only=True)['net'])
    found = re.search(r'converted (\d+) tensors \(backbone\) of MixSKD_CIFAR_ResNet18 \(cifar-resnet18\) to (\S+); '
                      r'left out the exits \((\d+) tensors\), the self-teacher \(3 tensors\), the classifier '
                      r'\(2 tensors\)', stdout)
    assert found and int(found.group(1)) == len(tensors) and found.group(2) == out and int(found.group(3)) == exits
    assert "TimmStageBackbone(model_name='resnet18', cifar_stem=True, stem_act=False, pretrained=" in stdout


def released_cifar_features(backbone, x):
    """The released CIFAR ResNet-18's stage outputs, by hand on torchvision's modules: conv3x3 -> BN -> layer1..4,
    no activation after the stem's BN and no max-pool."""
    net = torchvision_resnet('cifar-resnet18', 100)
    net.load_state_dict(backbone, strict=True)
    net.eval()
    with torch.no_grad():
        out, features = net.bn1(net.conv1(x)), []
        for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
            out = stage(out)
            features.append(out)
    return features


def test_cifar_file_rebuilt_with_the_released_stem_computes_the_released_function(cifar, cifar_file):
    backbone, out = cifar[1], cifar_file[0]
    model = TimmStageBackbone('resnet18', cifar_stem=True, stem_act=False)
    report = weights.load_weights_file(model, out, expected_arch='resnet18')
    assert len(report['matched']) == len(model.state_dict()) == len(without_classifier(backbone))
    assert not report['missing'] and not report['unexpected'] and not report['mismatched']

    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    want = released_cifar_features(backbone, x)
    for built in (TimmStageBackbone('resnet18', cifar_stem=True, stem_act=False, pretrained=out),
                  TimmStageBackbone('resnet18', cifar_stem=True, stem_act=False,
                                    init_cfg=dict(type='Pretrained', checkpoint=out))):
        built.init_weights()  # a no-op for pretrained=, the load for init_cfg
        with torch.no_grad():
            got = built.eval()(x)
        assert [tuple(g.shape) for g in got] == [(2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8), (2, 512, 4, 4)]
        assert all(torch.equal(g, w) for g, w in zip(got, want))
    # the same tensors behind timm's stem (a ReLU after bn1) compute something else: the check above has teeth
    timm_stem = TimmStageBackbone('resnet18', cifar_stem=True)
    timm_stem.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert not torch.allclose(timm_stem.eval()(x)[-1], want[-1])


@pytest.mark.parametrize('options, message', [
    (dict(cifar_stem=True), r'with stem_act=False, but this backbone has stem_act=True.*Set `stem_act=False`.*'
                            r'model\.backbone\.stem_act=False'),
    (dict(stem_act=False), r'with cifar_stem=True, but this backbone has cifar_stem=False.*Set `cifar_stem=True`'),
    (dict(), r'with cifar_stem=True, but this backbone has cifar_stem=False'),
], ids=['timm-stem', 'imagenet-stem-without-act', 'imagenet-stem'])
def test_cifar_file_refuses_a_backbone_with_another_stem(cifar_file, options, message):
    out = cifar_file[0]
    with pytest.raises(RuntimeError, match=message):
        TimmStageBackbone('resnet18', pretrained=out, **options)
    model = TimmStageBackbone('resnet18', init_cfg=dict(type='Pretrained', checkpoint=out), **options)
    with pytest.raises(RuntimeError, match=message):
        model.init_weights()


def test_keep_classifier_and_explicit_arch(cifar, tmp_path):
    src, backbone = cifar
    out = str(tmp_path / 'with_fc.safetensors')
    conv = convert([src, out, '--arch', 'cifar-resnet18', '--keep-classifier'])
    meta, tensors = file_contents(out)
    assert_same_tensors(tensors, backbone)  # fc.weight / fc.bias too
    assert conv.tensors == len(backbone) and meta['num_classes'] == '100' and meta['stem_act'] == 'false'
    # a backbone ignores the classifier (reported as unexpected), loading every one of its own tensors
    report = weights.load_weights_file(TimmStageBackbone('resnet18', cifar_stem=True, stem_act=False), out,
                                       expected_arch='resnet18')
    assert len(report['matched']) == len(backbone) - 2 and sorted(report['unexpected']) == ['fc.bias', 'fc.weight']


def test_data_parallel_prefix_is_stripped(tmp_path):
    src, out = tmp_path / CIFAR_NAME, str(tmp_path / 'dp.safetensors')
    backbone = released_checkpoint(src, 'cifar-resnet18', 10, seed=5, prefix='module.')
    assert next(iter(torch.load(str(src), weights_only=True)['net'])).startswith('module.backbone.')
    convert([str(src), out])
    assert_same_tensors(file_contents(out)[1], without_classifier(backbone))


# -- the ImageNet ResNet-50 in our mmdet / mmseg configs ---------------------------------------------------------
def test_imagenet_backbone_arrives_unchanged(imagenet):
    _, backbone, out = imagenet
    meta, tensors = file_contents(out)
    assert_same_tensors(tensors, without_classifier(backbone))
    assert meta['model_name'] == 'resnet50' and meta['cifar_stem'] == 'false' and 'stem_act' not in meta
    assert meta['source'] == f'{IMAGENET_NAME} (Self-KD-Lib MixSKD_ImageNet_ResNet50, epoch 99, acc 0.7719)'


def build_and_init(config, scope, checkpoint, monkeypatch):
    """Build ``config``'s whole model in-process, run ``init_weights`` (the backbone loads ``checkpoint`` through its
    init_cfg), and return ``(model, the backbone's load report)``."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import DefaultScope
    reports, load_into = [], weights.load_into

    def recording(*args, **kwargs):
        reports.append(load_into(*args, **kwargs))
        return reports[-1]

    monkeypatch.setattr(weights, 'load_into', recording)
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg.checkpoint = checkpoint
    with DefaultScope.overwrite_default_scope(scope):
        registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
        model = revert_sync_batchnorm(registry.build(cfg.model))
        model.init_weights()
    assert len(reports) == 1
    return model, reports[0]


@pytest.mark.parametrize('config, scope', [(MMDET_CONFIG, 'mmdet'), (MMSEG_CONFIG, 'mmseg')],
                         ids=['mmdet-faster-rcnn', 'mmseg-deeplabv3'])
def test_imagenet_file_drops_into_our_configs_with_every_tensor_matched(imagenet, config, scope, monkeypatch):
    model, report = build_and_init(config, scope, imagenet[2], monkeypatch)
    own = model.backbone.state_dict()
    assert len(report['matched']) == len(own) > 300  # N/N
    assert not report['missing'] and not report['unexpected'] and not report['mismatched']
    assert_same_tensors(own, without_classifier(imagenet[1]))


# -- files that are not released MixSKD checkpoints -------------------------------------------------------------
def lazy_released_net(arch, num_classes=10, drop=(), extra=None, prefix='backbone.'):
    """A released-layout ``net`` of zero tensors (stride-0 views of one element: tiny files) for the refusals."""
    net = torchvision_resnet(arch, num_classes) if arch in ('cifar-resnet18', 'imagenet-resnet50') else arch
    state = {prefix + k: torch.zeros(()).expand(v.shape) for k, v in net.state_dict().items() if k not in drop}
    state.update(extra or {})
    return state


def cifar_resnet34():
    net = torchvision.models.resnet34(num_classes=10)
    net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    return net


def stem5x5():
    net = torchvision.models.resnet18(num_classes=10)
    net.conv1 = nn.Conv2d(3, 64, 5, stride=2, padding=2, bias=False)
    return net


BAD = {
    'bare-state-dict': (lambda: lazy_released_net('cifar-resnet18'),
                        r"holds a dict with keys \['backbone\.bn1\.bias'.*no 'net' state dict; expected a Self-KD-Lib "
                        r"MixSKD checkpoint: a torch file holding \{'net': state dict, 'acc', 'epoch', 'optimizer'\}"),
    'mmengine-checkpoint': (lambda: {'state_dict': lazy_released_net('cifar-resnet18'), 'meta': {}},
                            r"no 'net' state dict.*mmengine checkpoint.*tools/export_backbone\.py"),
    'a-tensor': (lambda: torch.zeros(3), r"holds a Tensor, no 'net' state dict"),
    'unexpected-keys': (lambda: {'net': lazy_released_net('cifar-resnet18', extra={'projector.weight': torch.zeros(2)}),
                                 'acc': 0.5, 'epoch': 1},
                        r"'net' holds 1 keys outside backbone\.\*, auxiliary_classifier\.\*, final_aux_classifier\.\*, "
                        r"e\.g\. \['projector\.weight'\]"),
    'no-backbone': (lambda: {'net': lazy_released_net('cifar-resnet18', prefix='auxiliary_classifier.')},
                    r"'net' holds no backbone\.\* tensors"),
    'missing-backbone-tensor': (
        lambda: {'net': lazy_released_net('cifar-resnet18', drop=('layer4.1.bn2.running_var',))},
        r"the backbone is not the released cifar-resnet18 \(MixSKD_CIFAR_ResNet18; TimmStageBackbone\(model_name="
        r"'resnet18', cifar_stem=True, stem_act=False\)\): 1 backbone tensors missing, e\.g\. "
        r"\['layer4\.1\.bn2\.running_var'\]"),
    'cifar-resnet34': (lambda: {'net': lazy_released_net(cifar_resnet34())},
                       r"not the released cifar-resnet18.*unexpected backbone tensors, e\.g\. "
                       r"\['layer1\.2\.conv1\.weight'.*This converter reads cifar-resnet18 .* and imagenet-resnet50"),
    'stem-5x5': (lambda: {'net': lazy_released_net(stem5x5())},
                 r"backbone\.conv1\.weight has shape \(64, 3, 5, 5\), which is neither released model's \(3x3: "
                 r"cifar-resnet18.*; 7x7: imagenet-resnet50"),
    'classifier-width': (
        lambda: {'net': lazy_released_net('cifar-resnet18', drop=('fc.weight',),
                                          extra={'backbone.fc.weight': torch.zeros(10, 2048)})},
        r"the classifier fc\.weight \(10, 2048\) / fc\.bias \(10,\) does not take 512 features"),
    'needs-full-unpickling': (lambda: {'net': lazy_released_net('cifar-resnet18'), 'args': argparse.Namespace(lr=0.1)},
                              r"holds objects beyond tensors and numbers, so weights-only loading refused it "
                              r"\(Unsupported global: GLOBAL argparse\.Namespace.*\)\. A released checkpoint "
                              r"\(\{'net', 'acc', 'epoch', 'optimizer'\}\) holds only tensors and numbers"
                              r".*weights_only=False"),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_files_that_are_not_released_checkpoints_fail_clearly(case, tmp_path):
    make, message = BAD[case]
    src, out = tmp_path / 'bad.pth.tar', tmp_path / 'out.safetensors'
    torch.save(make(), str(src))
    with pytest.raises(SystemExit, match=r'error: ' + '.*' + message):
        convert([str(src), str(out)])
    assert not out.exists()


def test_wrong_arch_missing_classifier_and_non_torch_files_fail_clearly(cifar, tmp_path):
    out = tmp_path / 'out.safetensors'
    with pytest.raises(SystemExit, match=r"not the released imagenet-resnet50.*shape mismatches, e\.g\. "
                                         r"\['conv1\.weight: file \(64, 3, 3, 3\) vs \(64, 3, 7, 7\)'"):
        convert([cifar[0], str(out), '--arch', 'imagenet-resnet50'])
    no_fc = tmp_path / 'no_fc.pth.tar'
    torch.save({'net': lazy_released_net('cifar-resnet18', drop=('fc.weight', 'fc.bias'))}, str(no_fc))
    with pytest.raises(SystemExit, match=r'--keep-classifier, but the backbone has no fc\.weight / fc\.bias'):
        convert([str(no_fc), str(out), '--keep-classifier'])
    text = tmp_path / 'notes.pth'
    text.write_text('not a checkpoint')
    with pytest.raises(SystemExit, match=r"'.*notes\.pth' is not a torch checkpoint .*expected a Self-KD-Lib MixSKD"):
        convert([str(text), str(out)])
    with pytest.raises(SystemExit, match=r"error: the output must end in \.safetensors \(recommended\) or \.pth"):
        convert([cifar[0], str(tmp_path / 'out.bin')])
    with pytest.raises(SystemExit, match=r"error: released checkpoint not found: '.*nope\.pth\.tar'"):
        convert([str(tmp_path / 'nope.pth.tar'), str(out)])
    assert not out.exists()
    convert([str(no_fc), str(out)])  # without --keep-classifier a backbone lacking fc converts
    assert set(load_file(str(out))) == set(TimmStageBackbone('resnet18', cifar_stem=True).state_dict())


def test_readme_shows_the_command():
    text = open(os.path.join(ROOT, 'README.md')).read()
    assert 'python tools/convert_released_checkpoint.py MixSKD_CIFAR_ResNet18_best.pth.tar' in text
    assert "stem_act=False" in text


def test_a_truncated_empty_or_folder_source_and_a_folder_out_are_named(tmp_path):
    src, out = tmp_path / 'released.pth.tar', tmp_path / 'out.safetensors'
    torch.save({'net': lazy_released_net('cifar-resnet18'), 'acc': 77.0}, str(src))
    good = src.read_bytes()
    src.write_bytes(good[:len(good) // 2])
    with pytest.raises(SystemExit, match=r"^error: released checkpoint '.*released\.pth\.tar' is truncated or damaged: "
                                         r"a torch checkpoint is a zip archive.*download it again"):
        convert([str(src), str(out)])
    src.write_bytes(b'')
    with pytest.raises(SystemExit, match=r"^error: released checkpoint '.*released\.pth\.tar' is empty \(0 bytes\); "
                                         r"expected a Self-KD-Lib MixSKD checkpoint"):
        convert([str(src), str(out)])
    with pytest.raises(SystemExit, match=rf"^error: released checkpoint '{tmp_path}' is a folder; expected a "
                                         r"Self-KD-Lib MixSKD checkpoint"):
        convert([str(tmp_path), str(out)])
    src.write_bytes(good)
    folder = tmp_path / 'out.safetensors.d.safetensors'
    folder.mkdir()
    with pytest.raises(SystemExit, match=r"^error: the output '.*d\.safetensors' is a folder; expected a file name"):
        convert([str(src), str(folder)])
    assert not out.exists()
