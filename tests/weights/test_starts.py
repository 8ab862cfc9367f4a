"""Resolving a start (``scratch``, ``timm``, ``hf-hub:``, ``local-dir:``, a file, a run directory) to a local file."""
import hashlib
import json
import os
import subprocess
import sys

import pytest
import timm
from safetensors.torch import save_file

from mixskd_mm.weights.starts import StartError, resolve_start

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NORM = dict(mean=[0.1, 0.2, 0.3], std=[0.4, 0.5, 0.6], input_size=[3, 48, 48], interpolation='bicubic')


def timm_folder(folder, arch='test_resnet', **pretrained_cfg):
    """A timm model folder as timm's ``push_to_hf_hub`` lays one out: config.json + model.safetensors."""
    os.makedirs(folder, exist_ok=True)
    model = timm.create_model(arch, pretrained=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(folder, 'model.safetensors'))
    config = dict(architecture=arch, num_classes=model.num_classes, pretrained_cfg=dict(NORM, **pretrained_cfg))
    with open(os.path.join(folder, 'config.json'), 'w') as f:
        json.dump(config, f)
    return str(folder)


def hub_cache(cache, repo_id, folder):
    """Lay ``folder``'s files out in a Hugging Face cache as a download of ``repo_id`` would leave them."""
    revision = 'a' * 40
    snapshot = os.path.join(cache, 'models--' + repo_id.replace('/', '--'), 'snapshots', revision)
    os.makedirs(snapshot)
    for name in os.listdir(folder):
        os.symlink(os.path.join(folder, name), os.path.join(snapshot, name))
    refs = os.path.join(cache, 'models--' + repo_id.replace('/', '--'), 'refs')
    os.makedirs(refs)
    with open(os.path.join(refs, 'main'), 'w') as f:
        f.write(revision)


def resolve_offline(spec, model_name, cache):
    """``resolve_start`` in a fresh process with the Hub offline and ``cache`` as its cache: (rc, output)."""
    code = ('import json, sys\nfrom mixskd_mm.weights.starts import resolve_start, StartError\n'
            'try:\n    print(json.dumps(resolve_start(sys.argv[1], sys.argv[2]).to_json()))\n'
            'except StartError as err:\n    sys.exit(str(err))\n')
    env = dict(os.environ, HF_HUB_OFFLINE='1', HF_HUB_CACHE=str(cache), HF_HOME=str(cache), PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, '-c', code, spec, model_name], env=env, capture_output=True, text=True,
                          timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def test_scratch_loads_nothing():
    start = resolve_start('scratch', 'resnet18')
    assert not start.pretrained and start.weights is None and start.normalisation() is None


def test_local_dir_gives_the_file_its_hash_and_its_normalisation(tmp_path):
    folder = timm_folder(tmp_path / 'src')
    start = resolve_start(f'local-dir:{folder}', 'test_resnet')
    weights = os.path.join(folder, 'model.safetensors')
    assert start.weights == weights and start.architecture == 'test_resnet'
    assert start.sha256 == hashlib.sha256(open(weights, 'rb').read()).hexdigest()
    assert start.mean == (0.1, 0.2, 0.3) and start.std == (0.4, 0.5, 0.6)
    assert start.input_size == 48 and start.interpolation == 'bicubic'
    assert start.normalisation() == ([25.5, 51.0, 76.5], [102.0, 127.5, 153.0])
    # the folder given as a plain path is the same start
    assert resolve_start(folder, 'test_resnet').weights == weights


def test_another_architecture_is_refused_by_name(tmp_path):
    folder = timm_folder(tmp_path / 'src', arch='resnet10t')
    with pytest.raises(StartError, match=r"'resnet10t'.*'test_resnet'"):
        resolve_start(f'local-dir:{folder}', 'test_resnet')


def test_a_run_directory_gives_its_exported_backbone(tmp_path):
    from mixskd_mm.models.backbones import TimmStageBackbone
    backbone = TimmStageBackbone('test_resnet')
    meta = dict(backbone.export_metadata(), pretrained_cfg=json.dumps(NORM))
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, str(tmp_path / 'backbone.safetensors'),
              metadata=meta)
    start = resolve_start(str(tmp_path), 'test_resnet')
    assert start.weights == str(tmp_path / 'backbone.safetensors') and start.input_size == 48
    with pytest.raises(StartError, match='resnet18'):
        resolve_start(str(tmp_path), 'resnet18')
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(StartError, match='a folder without backbone.safetensors'):
        resolve_start(str(empty), 'test_resnet')
    with pytest.raises(StartError, match='no such file or folder'):
        resolve_start(str(tmp_path / 'missing'), 'test_resnet')


def test_hf_hub_and_timm_defaults_come_from_the_cache_offline(tmp_path):
    cache = tmp_path / 'hub'
    hub_cache(cache, 'someone/fmnist-ce', timm_folder(tmp_path / 'a'))
    # timm's own default weights of test_resnet live in timm/test_resnet.r160_in1k; its pretrained_cfg is timm's
    hub_cache(cache, timm.models.get_pretrained_cfg('test_resnet').hf_hub_id, timm_folder(tmp_path / 'b'))
    rc, out = resolve_offline('hf-hub:someone/fmnist-ce', 'test_resnet', cache)
    assert rc == 0, out
    start = json.loads(out.strip().splitlines()[-1])
    assert start['weights'].startswith(str(cache)) and start['mean'] == [0.1, 0.2, 0.3]
    rc, out = resolve_offline('timm', 'test_resnet', cache)
    assert rc == 0, out
    start = json.loads(out.strip().splitlines()[-1])
    assert start['weights'].startswith(str(cache)) and start['input_size'] == 160 and start['mean'] == [0.5] * 3


def test_timm_without_network_or_cache_names_the_ways_out(tmp_path):
    rc, out = resolve_offline('timm', 'test_resnet', tmp_path / 'empty_cache')
    assert rc != 0
    for way in ('--init scratch', 'HF_HUB_OFFLINE', 'local-dir:'):
        assert way in out, out
