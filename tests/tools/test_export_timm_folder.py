"""A MixSKD run through tools/train.py, exported as a timm model folder by tools/export_backbone.py --format timm and
by ExportBackboneHook(timm_dir=...): plain timm loads it (``local-dir:`` and, offline, ``hf-hub:``) into the
deployable network, an mmdet config loads it into TimmStageBackbone, and the model card's metrics are the log's."""
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
import timm
import torch
from _helpers import ROOT, loader_opts, run_tool, tool_env
from mmengine.config import Config
from safetensors import safe_open

import mixskd_mm  # noqa: F401  (weights-only loading of mmengine checkpoints)
from mixskd_mm.registry import MODELS

CONFIG = 'configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py'
DETECTOR = 'configs/demo/retinanet_test-resnet_fpn_1xb8-300i_composed-fashion.py'


@pytest.fixture(scope='module')
def run(tmp_path_factory, fake_fashion_mnist):
    """Work dir of 1 epoch (2 iterations) of the MixSKD test-resnet recipe; the hook also writes ``timm_hook/``."""
    work = tmp_path_factory.mktemp('timm_run')
    opts = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'param_scheduler=[]',
            'train_dataloader.dataset.num_per_class=None', 'custom_hooks.0.timm_dir=timm_hook',
            'custom_hooks.0.filename=hook.safetensors'] + loader_opts(fake_fashion_mnist)
    run_tool('tools/train.py', CONFIG, '--work-dir', str(work), '--cfg-options', *opts)
    return work


@pytest.fixture(scope='module')
def folder(run):
    """``(folder, tool output)`` of ``tools/export_backbone.py epoch_1.pth OUT --format timm``."""
    out = str(run / 'timm_cli')
    proc = run_tool('tools/export_backbone.py', str(run / 'epoch_1.pth'), out, '--format', 'timm')
    return out, proc.stdout


@pytest.fixture(scope='module')
def deployable(run):
    """The run's final model (from its checkpoint), as ``MixSKD.to_deployable`` makes it: backbone + classifier."""
    model = MODELS.build(Config.fromfile(os.path.join(ROOT, CONFIG)).model)
    model.load_state_dict(torch.load(str(run / 'epoch_1.pth'), map_location='cpu')['state_dict'])
    return model.to_deployable().eval()


def _inputs():
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_plain_timm_local_dir_is_the_deployable_model(folder, deployable):
    path, out = folder
    assert re.search(r'exported 92 tensors of test_resnet \(num_classes=10\) as a timm folder', out)
    assert sorted(os.listdir(path)) == ['README.md', 'config.json', 'model.safetensors']
    model = timm.create_model(f'local-dir:{path}', pretrained=True).eval()
    with torch.no_grad():
        got, want = model(_inputs()), deployable(_inputs())
    assert got.shape == (3, 10) and torch.equal(got, want)
    config = json.load(open(os.path.join(path, 'config.json')))
    assert config['architecture'] == 'test_resnet' and config['num_classes'] == 10 and config['num_features'] == 96
    assert config['label_names'][:2] == ['T-shirt/top', 'Trouser'] and 'model_args' not in config
    pre = config['pretrained_cfg']
    assert pre['input_size'] == [3, 32, 32] and pre['mean'] == [round(72.94 / 255, 6)] * 3
    assert pre['std'] == [round(90.02 / 255, 6)] * 3 and pre['interpolation'] == 'bilinear'
    assert config['mixskd_mm']['timm_compatible'] is True


def test_folder_loads_into_timm_stage_backbone_in_an_mmdet_config(folder, run):
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(os.path.join(ROOT, DETECTOR))
    cfg.model.backbone.init_cfg.checkpoint = f'local-dir:{folder[0]}'
    with DefaultScope.overwrite_default_scope('mmdet'):
        from mmdet.registry import MODELS as MMDET_MODELS
        detector = MMDET_MODELS.build(cfg.model)
        detector.init_weights()
    trained = torch.load(str(run / 'epoch_1.pth'), map_location='cpu')['state_dict']
    own = detector.backbone.state_dict()
    assert set(own) == {k[len('backbone.'):] for k in trained if k.startswith('backbone.')}
    assert all(torch.equal(v, trained['backbone.' + k]) for k, v in own.items())


def _blob(folder, data):
    name = hashlib.sha256(data).hexdigest()
    with open(os.path.join(folder, name), 'wb') as f:
        f.write(data)
    return name


def _hub_cache(cache, repo, source):
    """``cache/models--org--name/{blobs,refs/main,snapshots/<commit>/...}``: huggingface_hub's own cache layout."""
    commit = hashlib.sha1(repo.encode()).hexdigest()
    root = os.path.join(cache, 'models--' + repo.replace('/', '--'))
    for sub in ('blobs', 'refs', os.path.join('snapshots', commit)):
        os.makedirs(os.path.join(root, sub))
    with open(os.path.join(root, 'refs', 'main'), 'w') as f:
        f.write(commit)
    for name in ('config.json', 'model.safetensors', 'README.md'):
        blob = _blob(os.path.join(root, 'blobs'), open(os.path.join(source, name), 'rb').read())
        os.symlink(os.path.join('..', '..', 'blobs', blob), os.path.join(root, 'snapshots', commit, name))


HUB_SCRIPT = '''
import sys, timm, torch
from mixskd_mm.models.backbones import TimmStageBackbone
local = timm.create_model('local-dir:' + sys.argv[1], pretrained=True).eval()
hub = timm.create_model('hf-hub:mixskd-test/test_resnet.fashion', pretrained=True).eval()
x = torch.randn(2, 3, 32, 32)
with torch.no_grad():
    assert torch.equal(hub(x), local(x)), 'hf-hub and local-dir differ'
backbone = TimmStageBackbone('test_resnet', pretrained='hf-hub:mixskd-test/test_resnet.fashion')
assert all(torch.equal(v, local.state_dict()[k]) for k, v in backbone.state_dict().items())
by_init_cfg = TimmStageBackbone('test_resnet', init_cfg=dict(type='Pretrained',
                                                             checkpoint='hf-hub:mixskd-test/test_resnet.fashion'))
by_init_cfg.init_weights()
assert all(torch.equal(v, local.state_dict()[k]) for k, v in by_init_cfg.state_dict().items())
try:
    TimmStageBackbone('test_resnet', pretrained='hf-hub:mixskd-test/not-there')
except FileNotFoundError as err:
    print('MISSING:', err)
print('HUB OK', hub.pretrained_cfg['source'])
'''


def test_hf_hub_route_offline_from_a_hub_cache(folder, tmp_path):
    cache = str(tmp_path / 'hub')
    _hub_cache(cache, 'mixskd-test/test_resnet.fashion', folder[0])
    env = tool_env(HF_HUB_OFFLINE='1', HF_HUB_CACHE=cache, HF_HOME=str(tmp_path / 'hf_home'),
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, '-c', HUB_SCRIPT, folder[0]], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'HUB OK hf-hub' in proc.stdout
    assert "MISSING: hf-hub:mixskd-test/not-there: could not get config.json" in proc.stdout
    assert 'HF_HUB_OFFLINE is set' in proc.stdout


def _log_metrics(run):
    """``name -> value`` of the run's text log's ``Epoch(val) [1]`` line, parsed here, apart from the exporter."""
    (stamp,) = [d for d in os.listdir(run) if re.fullmatch(r'\d{8}_\d{6}', d)]
    text = open(run / stamp / f'{stamp}.log').read()
    (line,) = re.findall(r'Epoch\(val\) \[1\]\[\d+/\d+\]\s+(.*)', text)
    pairs = dict(re.findall(r'(\S+): (\S+)', line))
    return {k: v for k, v in pairs.items() if k not in ('data_time', 'time')}


def test_model_card_metrics_are_the_logs(folder, run):
    card = open(os.path.join(folder[0], 'README.md')).read()
    logged = _log_metrics(run)
    assert len(logged) == 10 and 'accuracy/top1' in logged and 'accuracy/self_teacher_top5' in logged
    table = dict(re.findall(r'^\| (\S+) \| (\d+\.\d{4}) \|$', card, flags=re.M))
    assert table == logged
    assert card.startswith('---\nlibrary_name: timm\n') and '\nlicense: ' in card.split('---')[1]
    for fact in ('MixSKD', 'alpha 0.4', '4 exits', '1 epochs, batch 20', 'FashionMNIST', 'Ankle boot',
                 'mixskd_test-resnet_1xb64-10e_fashion-mnist.py', '@inproceedings{yang2022mixskd'):
        assert fact in card, fact


def test_hook_and_cli_exports_carry_identical_metadata(folder, run, tmp_path):
    hook, cli = str(run / 'timm_hook'), folder[0]
    for name in ('config.json', 'README.md'):
        assert open(os.path.join(hook, name)).read() == open(os.path.join(cli, name)).read(), name
    files = [os.path.join(hook, 'model.safetensors'), os.path.join(cli, 'model.safetensors'),
             str(run / 'hook.safetensors')]
    single = str(tmp_path / 'cli.safetensors')
    run_tool('tools/export_backbone.py', str(run / 'epoch_1.pth'), single)
    files.append(single)
    metas = []
    for path in files:
        with safe_open(path, framework='pt') as f:
            metas.append({k: v for k, v in f.metadata().items() if k != 'format'})
    assert metas[0] == metas[1] == metas[2] == metas[3]
    assert re.fullmatch(r'mixskd_test-resnet_1xb64-10e_fashion-mnist_\d{8}_\d{6} epoch 1 iter 2', metas[0]['source'])
    assert metas[0]['model_name'] == 'test_resnet' and metas[0]['out_indices'] == '[1, 2, 3, 4]'
