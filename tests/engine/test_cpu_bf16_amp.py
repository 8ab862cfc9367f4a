"""``--amp`` on a CPU: bf16 autocast through MMEngine's AMP wrapper on a CPU with native bf16, else a reason."""
import glob
import json
import os

import pytest
import torch
from _helpers import ROOT, loader_opts, run_tool
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper

from mixskd_mm.engine import runner_setup
from mixskd_mm.engine.cpu_perf import native_bf16

CONFIG = 'configs/mixskd/mixskd_test-resnet_1xb64-10e_fashion-mnist.py'
NATIVE_BF16, REASON = native_bf16()
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16 or torch.cuda.is_available(),
                                reason=f'CPU bf16 AMP needs a CPU with native bf16 and no GPU ({REASON})')


def _runner(work_dir, data_root):
    cfg = runner_setup.load_config(os.path.join(ROOT, CONFIG), loader_opts(data_root) + [
        'train_dataloader.dataset.num_per_class=None'], work_dir=str(work_dir))
    runner_setup.enable_amp(cfg)
    runner = runner_setup.build_runner(cfg)
    return runner, runner.build_optim_wrapper(cfg.optim_wrapper)


@needs_bf16
def test_bf16_autocast_on_the_cpu_with_fp32_losses_and_weights(tmp_path, fake_fashion_mnist):
    runner, wrapper = _runner(tmp_path, fake_fashion_mnist)
    assert isinstance(wrapper, AmpOptimWrapper) and type(wrapper).__name__ == 'CpuBf16AmpOptimWrapper'
    model = runner.model
    conv = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    dtypes = []
    conv.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    data = model.data_preprocessor(next(iter(runner.train_dataloader)), True)
    before = [p.detach().clone() for p in model.parameters()]
    with wrapper.optim_context(model):
        losses = model(**data, mode='loss')
    assert dtypes == [torch.bfloat16]  # the convolutions ran in bf16
    assert {k: v.dtype for k, v in losses.items() if k.startswith('loss')} == dict.fromkeys(
        ['loss_ce', 'loss_mix_ce', 'loss_kd', 'loss_feat', 'loss_adv'], torch.float32)
    wrapper.update_params(sum(v for k, v in losses.items() if k.startswith('loss')))
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))  # a real step was taken
    state = wrapper.state_dict()
    assert state['loss_scaler'] == {}  # bf16 needs no loss scale; a resumed run loads the same
    wrapper.load_state_dict(state)


@needs_bf16
def test_train_tool_amp_trains_on_a_bf16_cpu(tmp_path, fake_fashion_mnist):
    run_tool('tools/train.py', CONFIG, '--amp', '--work-dir', str(tmp_path), '--cfg-options', 'train_cfg.max_epochs=1',
             'param_scheduler=[]', 'default_hooks.logger.interval=1', 'train_dataloader.dataset.num_per_class=None',
             *loader_opts(fake_fashion_mnist))
    logs = glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
    steps = [json.loads(line) for line in open(logs[0]) if '"loss"' in line]
    assert len(steps) == 2 and all(torch.isfinite(torch.tensor(s['loss'])) for s in steps)
    assert "type='mixskd_mm.CpuBf16AmpOptimWrapper'" in open(glob.glob(str(tmp_path / '*.py'))[0]).read()


def test_amp_without_gpu_or_native_bf16_explains_why():
    if torch.cuda.is_available():
        pytest.skip('a GPU takes --amp as fp16')
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))))
    if NATIVE_BF16:
        assert runner_setup.enable_amp(cfg).optim_wrapper.type == 'mixskd_mm.CpuBf16AmpOptimWrapper'
        return
    with pytest.raises(RuntimeError, match='needs a CPU with native bf16, and this CPU has no native bf16'):
        runner_setup.enable_amp(cfg)
