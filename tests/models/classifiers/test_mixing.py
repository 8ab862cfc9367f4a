"""The Mixup draw: lam ~ Beta(alpha, alpha), a random permutation, and x~ = lam x + (1 - lam) x[p] in the models."""
import pytest
import torch

import mixskd_mm.models.classifiers._mixing as mixing
from mixskd_mm.models.classifiers import ImageClassifier, MixSKD

TINY = dict(type='TimmStageBackbone', model_name='test_resnet')
CPU = torch.device('cpu')


@pytest.mark.parametrize('alpha', [0.2, 0.4, 1.0])
def test_lam_has_the_mean_and_variance_of_beta(alpha):
    """E lam = 1/2 and Var lam = 1 / (4 (2 alpha + 1)) over 10,000 seeded draws (standard errors ~0.003)."""
    torch.manual_seed(0)
    lams = torch.stack([mixing.sample_pairs(8, alpha, CPU)[0] for _ in range(10000)]).double()
    assert lams.shape == (10000,) and bool(((lams > 0) & (lams < 1)).all())
    assert lams.mean().item() == pytest.approx(0.5, abs=0.015)
    assert lams.var().item() == pytest.approx(1 / (4 * (2 * alpha + 1)), rel=0.06)
    if alpha < 1:  # U-shaped: much of the mass near 0 and near 1
        assert 0.2 < (lams < 0.1).double().mean().item() < 0.4 and 0.2 < (lams > 0.9).double().mean().item() < 0.4


def test_permutations_are_uniform_random_permutations():
    torch.manual_seed(0)
    perms = torch.stack([mixing.sample_pairs(8, 0.4, CPU)[1] for _ in range(4000)])
    assert torch.equal(perms.sort(dim=1).values, torch.arange(8).expand(4000, 8))
    identity = (perms == torch.arange(8)).all(dim=1)
    assert identity.sum().item() <= 1  # a uniform permutation of 8 is the identity with probability 1 / 40320
    assert (perms == torch.arange(8)).sum(dim=1).double().mean().item() == pytest.approx(1.0, abs=0.1)  # fixed pts
    share = torch.stack([(perms[:, 0] == j).double().mean() for j in range(8)])  # where sample 0 is sent
    torch.testing.assert_close(share, torch.full((8,), 1 / 8, dtype=torch.double), atol=0.025, rtol=0)


def _spy_draws(monkeypatch, module: str):
    draws = []
    real = mixing.sample_pairs

    def spy(*args):
        draws.append(real(*args))
        return draws[-1]

    monkeypatch.setattr(f'mixskd_mm.models.classifiers.{module}.sample_pairs', spy)
    return draws


def test_mixskd_feeds_x_and_lam_x_plus_one_minus_lam_x_p(monkeypatch):
    model = MixSKD(TINY, num_classes=5, alpha=0.4)
    draws = _spy_draws(monkeypatch, 'mixskd')
    seen = []
    forward = model.exit_features
    monkeypatch.setattr(model, 'exit_features', lambda inputs: seen.append(inputs) or forward(inputs))
    x, y = torch.randn(6, 3, 32, 32), torch.tensor([0, 1, 2, 3, 4, 0])
    lams = []
    for seed in range(3):
        torch.manual_seed(seed)
        losses = model.loss(x, y)
        lam, perm = draws[-1]
        assert 0 < lam.item() < 1 and not torch.equal(perm, torch.arange(6)), (seed, lam, perm)
        torch.testing.assert_close(seen[-1], torch.cat([x, lam * x + (1 - lam) * x[perm]]), rtol=0, atol=1e-6)
        assert losses['mix_lam'].item() == lam.item()
        lams.append(lam.item())
    assert len(set(lams)) == 3


@pytest.mark.parametrize('mix', ['mixup', 'cutmix'])
def test_baselines_mix_with_their_draw(monkeypatch, mix):
    model = ImageClassifier(TINY, num_classes=5, mix=mix, alpha=1.0)
    draws = _spy_draws(monkeypatch, 'image_classifier')
    seen = []
    model.backbone.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x, y = torch.randn(6, 3, 32, 32), torch.tensor([0, 1, 2, 3, 4, 0])
    torch.manual_seed(0)
    model.loss(x, y)
    lam, perm = draws[-1]
    assert 0 < lam.item() < 1 and not torch.equal(perm, torch.arange(6))
    if mix == 'mixup':
        torch.testing.assert_close(seen[-1], lam * x + (1 - lam) * x[perm], rtol=0, atol=1e-6)
    else:  # every pixel is x's or x[p]'s, and some are x[p]'s
        from_perm = (seen[-1] == x[perm]) & (seen[-1] != x)
        assert bool(((seen[-1] == x) | (seen[-1] == x[perm])).all()) and bool(from_perm.any())
