"""Golden values: the five MixSKD terms of the paper models equal the spec's formulas, computed by hand.

The CIFAR-100 (ResNet-18, released stem and initialisation) and ImageNet (ResNet-50) paper configs are built with
10 classes and run one training step on 4 tiny images with a fixed lam and permutation. The final feature maps
F_1..F_K of the one forward of ``[x ; x~]`` are captured, and every term is recomputed from them by hand, with
the model's own head, self-teacher and discriminator weights (spec Sec. 3-4, 9):

* ``loss_ce     = sum_k CE(z_k(x), y)``
* ``loss_mix_ce = sum_k MCE(z~_k) + MCE(t^) + MCE(t~)``, ``MCE(z) = lam CE(z, y) + (1 - lam) CE(z, y[p])``
* ``loss_kd     = KD(z^_K <- t~) + KD(z~_K <- t^) + sum_{k<K} [KD(z^_k <- z~_k) + KD(z~_k <- z^_k)]``,
  ``KD(s <- t) = T^2 / B sum_i KL(softmax(t_i / T) || softmax(s_i / T))``
* ``loss_feat   = sum_k mean((F^_k - F~_k)^2)``
* ``loss_adv    = sum_k 1/(2B) sum_i [softplus(-D_k(pool F^_k)_i) + softplus(D_k(pool F~_k)_i)]``

Each sum is checked to get a non-negligible share from every exit, and the self-teacher terms to depend on
every exit's features, so dropping an exit or feeding the self-teacher one exit's maps K times fails.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mixskd_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
PAPER = {'cifar': ('configs/_base_/models/mixskd_resnet18_cifar.py', 32),
         'imagenet': ('configs/mixskd/mixskd_resnet50_8xb16_in1k.py', 64)}
LAM, PERM = 0.3, [2, 0, 3, 1]  # a permutation without fixed points
HEAD_SCALE = 2.0  # fresh classifiers give near-uniform logits; doubled, the self-teacher's terms move more with F_k
RTOL = 1e-5  # float32 agreement observed: <= 1.2e-6


def build_paper_model(which: str):
    cfg = Config.fromfile(osp.join(ROOT, PAPER[which][0])).model
    cfg.num_classes = 10
    with DefaultScope.overwrite_default_scope('mixskd_mm'):
        model = MODELS.build(cfg)
    with torch.no_grad():  # identical weights for model and reference; larger logits
        for fc in [h.fc for h in model.exit_heads] + [model.head.fc, model.self_teacher.fc]:
            fc.weight.mul_(HEAD_SCALE)
        model.self_teacher.fuse.weight.mul_(HEAD_SCALE)
    return model


def ce(z, y):
    return -torch.log_softmax(z, 1)[torch.arange(len(y)), y].mean()


def mce(z, y, lam, perm):
    return lam * ce(z, y) + (1 - lam) * ce(z, y[perm])


def kd(student, teacher, temp):
    log_s, log_t = torch.log_softmax(student / temp, 1), torch.log_softmax(teacher / temp, 1)
    return temp ** 2 * (log_t.exp() * (log_t - log_s)).sum() / student.shape[0]


def linear(fc, x):
    return x @ fc.weight.T + fc.bias


def hand_teacher(model, maps):
    """fc(GAP(W * concat_k F_k)), the 1x1 convolution without bias, applied before pooling as in the spec."""
    fused = torch.einsum('oc,bchw->bohw', model.self_teacher.fuse.weight[:, :, 0, 0], torch.cat(maps, 1))
    return linear(model.self_teacher.fc, fused.mean((2, 3)))


def hand_adv(disc, f_hat, f_mix):
    d = linear(disc[2], torch.relu(linear(disc[0], torch.cat([f_hat, f_mix]).mean((2, 3))))).squeeze(1)
    b = f_hat.shape[0]
    return (torch.log1p(torch.exp(-d[:b])).sum() + torch.log1p(torch.exp(d[b:])).sum()) / (2 * b)


def reference_parts(model, feats, y, lam, perm):
    """Every term's per-exit contributions, by hand from the captured maps F_k of ``[x ; x~]``."""
    b, temp = len(y), model.kd_loss.temperature
    heads = [h.fc for h in model.exit_heads] + [model.head.fc]
    f_orig, f_mix = [f[:b] for f in feats], [f[b:] for f in feats]
    z_orig = [linear(fc, f.mean((2, 3))) for fc, f in zip(heads, f_orig)]
    z_mix = [linear(fc, f.mean((2, 3))) for fc, f in zip(heads, f_mix)]
    f_hat = [lam * f + (1 - lam) * f[perm] for f in f_orig]
    z_hat = [lam * z + (1 - lam) * z[perm] for z in z_orig]
    t_hat, t_mix = hand_teacher(model, f_hat), hand_teacher(model, f_mix)
    kd_parts = [kd(zh, zm, temp) + kd(zm, zh, temp) for zh, zm in zip(z_hat[:-1], z_mix[:-1])]
    return dict(
        loss_ce=[ce(z, y) for z in z_orig],
        loss_mix_ce=[mce(z, y, lam, perm) for z in z_mix + [t_hat, t_mix]],
        loss_kd=kd_parts + [kd(z_hat[-1], t_mix, temp) + kd(z_mix[-1], t_hat, temp)],
        loss_feat=[((fh - fm) ** 2).mean() for fh, fm in zip(f_hat, f_mix)],
        loss_adv=[hand_adv(d, fh, fm) for d, fh, fm in zip(model.adv_loss.discriminators, f_hat, f_mix)],
    ), (f_hat, f_mix)


def run_step(model, monkeypatch, size):
    """One ``model.loss`` on 4 images with lam = LAM and p = PERM; returns losses, inputs and captured maps."""
    lam, perm = torch.tensor(LAM), torch.tensor(PERM)
    monkeypatch.setattr('mixskd_mm.models.classifiers.mixskd.sample_pairs', lambda b, a, d: (lam, perm))
    seen = {}
    forward = model.exit_features

    def spy(inputs):
        seen['inputs'], seen['feats'] = inputs, forward(inputs)
        return seen['feats']

    monkeypatch.setattr(model, 'exit_features', spy)
    torch.manual_seed(1)
    x, y = torch.randn(4, 3, size, size), torch.tensor([0, 3, 7, 9])
    losses = model.loss(x, y)
    return losses, x, y, seen


@pytest.fixture(scope='module', params=sorted(PAPER))
def paper_model(request):
    torch.manual_seed(0)
    return request.param, build_paper_model(request.param)


def test_five_terms_equal_the_spec_formulas(paper_model, monkeypatch):
    which, model = paper_model
    model.train()
    losses, x, y, seen = run_step(model, monkeypatch, PAPER[which][1])
    lam, perm = LAM, torch.tensor(PERM)
    torch.testing.assert_close(seen['inputs'], torch.cat([x, lam * x + (1 - lam) * x[perm]]))  # one forward, 2B
    with torch.no_grad():
        parts, _ = reference_parts(model, [f.detach() for f in seen['feats']], y, lam, perm)
    assert len(parts['loss_ce']) == model.num_exits == 4
    for key, values in parts.items():
        total = sum(values)
        assert losses[key].item() == pytest.approx(total.item(), rel=RTOL), key
        # every exit (and the self-teacher) contributes a share 1000x the tolerance (observed: >= 4 %)
        assert min(v.item() for v in values) > 1e-2 * total.item(), (key, [round(v.item(), 6) for v in values])


def test_self_teacher_terms_depend_on_every_exits_features(paper_model, monkeypatch):
    """Feeding the self-teacher any one exit's maps K times changes MCE(t^), MCE(t~) and the backbone's KD."""
    which, model = paper_model
    model.train()
    losses, x, y, seen = run_step(model, monkeypatch, PAPER[which][1])
    lam, perm = LAM, torch.tensor(PERM)
    with torch.no_grad():
        _, (f_hat, f_mix) = reference_parts(model, [f.detach() for f in seen['feats']], y, lam, perm)
        t_hat, t_mix = hand_teacher(model, f_hat), hand_teacher(model, f_mix)
        right = mce(t_hat, y, lam, perm) + mce(t_mix, y, lam, perm)
        for k in range(model.num_exits):
            wrong_hat, wrong_mix = hand_teacher(model, [f_hat[k]] * 4), hand_teacher(model, [f_mix[k]] * 4)
            wrong = mce(wrong_hat, y, lam, perm) + mce(wrong_mix, y, lam, perm)
            assert abs(wrong - right).item() > 50 * RTOL * losses['loss_mix_ce'].item(), k  # observed >= 1e-3
            assert (wrong_hat - t_hat).abs().max().item() > 0.1, k
