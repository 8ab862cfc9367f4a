"""Functional building blocks shared by the MixSKD loss modules.

Everything here computes in fp32 (inputs are cast with ``.float()``), so the losses stay exact under
automatic mixed precision, and works on whatever device its inputs live on.
"""
from collections.abc import Sequence
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """Temperature-scaled knowledge distillation, ``KD(s <- t)``.

    ``KD(s <- t) = T^2 * (1/B) * sum_i KL(softmax(t_i / T) || softmax(s_i / T))``.

    The teacher is detached here, so a KD term never sends gradient into the teacher side; mutual
    distillation is written as two calls with the roles swapped.

    Args:
        student_logits: Student logits, shape (B, num_classes).
        teacher_logits: Teacher logits, shape (B, num_classes); detached inside.
        temperature: Softmax temperature ``T`` (> 0).

    Returns:
        Scalar fp32 tensor.
    """
    log_p_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.detach().float() / temperature, dim=1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction='batchmean', log_target=True)
    return kl * temperature**2


def mixed_ce(logits: Tensor, target: Tensor, target_perm: Tensor, lam: Union[float, Tensor]) -> Tensor:
    """Cross-entropy against a Mixup target, ``lam * CE(z, y) + (1 - lam) * CE(z, y[p])``.

    Args:
        logits: Logits of the Mixup images, shape (B, num_classes).
        target: Class indices ``y`` of the first members of the pairs, shape (B,).
        target_perm: Class indices ``y[p]`` of the second members of the pairs, shape (B,).
        lam: Mixup coefficient, a float or a 0-dim tensor.

    Returns:
        Scalar fp32 tensor; each cross-entropy is a batch mean.
    """
    logits = logits.float()
    return lam * F.cross_entropy(logits, target) + (1 - lam) * F.cross_entropy(logits, target_perm)


def zero_loss(tensors: Sequence[Tensor]) -> Tensor:
    """A zero scalar connected to every given tensor's graph.

    Used when a term is switched off (``loss_weight == 0``): the result still reaches the parameters
    behind ``tensors`` (with zero gradient), so DistributedDataParallel sees them as used.

    Args:
        tensors: Tensors whose graphs the zero should touch; at least one.

    Returns:
        Scalar fp32 tensor equal to 0.
    """
    return torch.stack([t.float().sum() for t in tensors]).sum() * 0.0
