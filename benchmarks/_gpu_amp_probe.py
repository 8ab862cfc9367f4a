"""After gpu_check.sh's ``tools/train.py --amp`` run: what one AMP step of that run computes in which precision.

Rebuilds the run from its dumped config (the Runner and optimiser wrapper ``--amp`` chose), loads its checkpoint,
and takes one step on a training batch: convolutions must run in the autocast type (fp16 on CUDA, bf16 on a CPU),
the five loss terms in fp32, the gradients (through the adversarial term's gradient reversal) finite and fp32.
Prints the loss scaler's state from the checkpoint and one line ``AMP probe: ok``; exits non-zero otherwise.

    python benchmarks/_gpu_amp_probe.py WORK_DIR [--amp]
"""
from __future__ import annotations

import glob
import os
import sys

import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from mixskd_mm.engine import runner_setup

TERMS = ('loss_ce', 'loss_mix_ce', 'loss_kd', 'loss_feat', 'loss_adv')


def main(work_dir: str, amp: bool) -> None:
    cfg = Config.fromfile(sorted(glob.glob(os.path.join(work_dir, '*.py')))[0])
    cfg.work_dir = os.path.join(work_dir, 'probe')
    runner = runner_setup.build_runner(cfg)
    wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    ckpt = load_checkpoint(runner.model, os.path.join(work_dir, 'epoch_1.pth'), map_location='cpu')
    print(f'optimiser wrapper: {type(wrapper).__name__}; checkpoint loss scaler: '
          f'{ckpt["optimizer"].get("loss_scaler", "none")}')
    model = runner.model
    conv = next(m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d))
    dtypes = []
    conv.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    data = model.data_preprocessor(next(iter(runner.train_dataloader)), True)
    with wrapper.optim_context(model):
        losses = model(**data, mode='loss')
    loss = sum(losses[k] for k in TERMS)
    wrapper.backward(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    disc = model.adv_loss.discriminators[0][0].weight.grad
    expected = (torch.float16 if torch.cuda.is_available() else torch.bfloat16) if amp else torch.float32
    checks = {
        f'convolution output {dtypes[0]} (expected {expected})': dtypes[0] == expected,
        'loss terms fp32: ' + ', '.join(f'{k} {losses[k].dtype}' for k in TERMS):
            all(losses[k].dtype == torch.float32 for k in TERMS),
        f'{len(grads)} gradients finite and fp32': all(g.dtype == torch.float32 and torch.isfinite(g).all()
                                                       for g in grads),
        'discriminator gradient reached (gradient reversal)': disc is not None and bool(disc.abs().sum() > 0),
    }
    for text, ok in checks.items():
        print(f'  {"ok" if ok else "FAILED"}: {text}')
    print('loss terms: ' + ', '.join(f'{k}={losses[k].item():.4f}' for k in TERMS))
    if not all(checks.values()):
        sys.exit('AMP probe: FAILED')
    print('AMP probe: ok')


if __name__ == '__main__':
    main(sys.argv[1], '--amp' in sys.argv[2:])
