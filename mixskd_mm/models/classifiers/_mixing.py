"""Pair sampling for Mixup / CutMix with torch's RNG on the input's device (seeded by the Runner)."""
from __future__ import annotations

import torch


def sample_pairs(batch_size: int, alpha: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``lam ~ Beta(alpha, alpha)`` and one random permutation ``p`` of the batch.

    Args:
        batch_size: B.
        alpha: Beta concentration (> 0).
        device: where to draw (that device's torch generator is used; no numpy RNG).

    Returns:
        ``(lam, perm)``: a 0-dim float tensor and a LongTensor of shape (B,).
    """
    if alpha <= 0:
        raise ValueError(f'alpha must be positive, got {alpha}')
    conc = torch.tensor(float(alpha), device=device)
    lam = torch.distributions.Beta(conc, conc).sample()
    perm = torch.randperm(batch_size, device=device)
    return lam, perm


def mixup(x: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """``lam * x + (1 - lam) * x[perm]`` (Zhang et al., mixup, ICLR 2018)."""
    return lam * x + (1 - lam) * x[perm]


def cutmix(x: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a box of ``x[perm]`` covering about ``1 - lam`` of the image (Yun et al., CutMix, ICCV 2019).

    Returns:
        ``(mixed, lam_exact)``: the images and the exact share of pixels kept from ``x``.
    """
    h, w = x.shape[-2:]
    cut = torch.sqrt(1 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy = int(torch.randint(h, (1,), device=x.device))
    cx = int(torch.randint(w, (1,), device=x.device))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    mixed = x.clone()
    mixed[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    lam_exact = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return mixed, torch.tensor(lam_exact, device=x.device, dtype=x.dtype)
