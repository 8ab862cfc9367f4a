"""Compute-matched baselines: a cheap method trained for as many epochs as make its training cost equal MixSKD's.

A MixSKD step costs more than a CE step (the mixed half of the batch, the exits, the self-teacher): 2x on the demo's
small network, 4.8x on a CIFAR ResNet-18 with ``replicate`` exits. Whether MixSKD's gain is more than that extra
compute is asked by training the baseline longer: ``ce-matched`` is CE for ``round(E * M_mixskd / M_ce)`` epochs,
where ``M`` is the multiply-adds of one training step (forward and backward) per image, counted with
:class:`torch.utils.flop_counter.FlopCounterMode` on the two real models at the comparison's crop size. The count
depends only on the networks' shapes, so it is the same on every machine (unlike wall time, which the report gives
beside it). The schedule is stretched to the new length (its warm-up and cosine decay over all the epochs), never
cut.

``OUT/compute.json`` records the counts, so a resumed or collected comparison plans the same epochs without
counting again.
"""
from __future__ import annotations

import copy
import json
import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from .configs import LABELS, MATCHED, MIXSKD_METHODS, Pretraining, model_config
from .report import Section

if TYPE_CHECKING:
    from .analysis import SummaryRow

#: images per counted step: MixSKD mixes pairs within a batch, so it needs two (the count is per image)
COUNT_BATCH = 2


def step_macs(model_cfg: Mapping, img_size: int, batch: int = COUNT_BATCH) -> int:
    """Multiply-adds of one training step (forward and backward of the summed losses) per image.

    Args:
        model_cfg: A method's ``model`` config (:func:`~mixskd_mm.compare.configs.model_config`); its backbone's
            ``pretrained`` weights are left out (the count depends on shapes only).
        img_size: Side of the square crops.
        batch: Images in the counted step.

    Returns:
        The multiply-adds per image (FlopCounterMode counts 2 FLOPs per multiply-add).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mixskd_mm.registry import MODELS
    cfg = copy.deepcopy(dict(model_cfg))
    cfg['backbone'] = {k: v for k, v in cfg['backbone'].items() if k != 'pretrained'}
    cfg.pop('data_preprocessor', None)
    cfg.pop('channels_last', None)
    cfg['type'] = f'mixskd_mm.{cfg["type"]}'
    torch.manual_seed(0)
    model = MODELS.build(cfg).train()
    inputs = torch.randn(batch, 3, img_size, img_size)
    targets = torch.arange(batch) % cfg['num_classes']
    with FlopCounterMode(display=False) as counter:
        losses = model(inputs, targets, mode='loss')
        sum(value for key, value in losses.items() if 'loss' in key).backward()
    return counter.get_total_flops() // (2 * batch)


@dataclass(frozen=True)
class ComputeMatch:
    """The counts behind the compute-matched baselines of one comparison.

    Attributes:
        target: The MixSKD method whose cost is matched (``mixskd``, else ``mixskd-conv``).
        img_size: The crop side the steps were counted at.
        macs: Multiply-adds of one training step per image, per counted method.
        epochs: The comparison's epochs.
        matched_epochs: Each compute-matched method's epochs.
    """

    target: str
    img_size: int
    macs: Mapping[str, int]
    epochs: int
    matched_epochs: Mapping[str, int]

    def ratio(self, method: str) -> float:
        """The target's step cost over ``method``'s (a compute-matched method: over its base's)."""
        return self.macs[self.target] / self.macs[MATCHED.get(method, method)]

    def as_json(self) -> dict:
        return dict(target=self.target, img_size=self.img_size, macs=dict(self.macs), epochs=self.epochs,
                    matched_epochs=dict(self.matched_epochs),
                    ratio={m: round(self.ratio(m), 4) for m in self.matched_epochs})


def matched_epochs(epochs: int, target_macs: int, base_macs: int) -> int:
    """The epochs at which the base method's training costs what the target's does in ``epochs``: the nearest
    whole number, and never fewer than ``epochs`` (the schedule is stretched, not cut).

    Example:
        >>> matched_epochs(10, 48, 10)
        48
    """
    return max(epochs, round(epochs * target_macs / base_macs))


def match_compute(methods: Sequence[str], data: Mapping, pretraining: Pretraining, out: str) -> ComputeMatch | None:
    """Count the steps the compute-matched methods need (or read them from ``out/compute.json``) and plan their
    epochs.

    Args:
        methods: The comparison's methods.
        data: The data summary (classes, mean and std).
        pretraining: The schedule every other method trains with.
        out: The comparison folder.

    Returns:
        The counts, or ``None`` when no compute-matched method is compared.

    Raises:
        ValueError: a compute-matched method without a MixSKD method to match.
    """
    wanted = [m for m in methods if m in MATCHED]
    if not wanted:
        return None
    target = next((m for m in MIXSKD_METHODS if m in methods), None)
    if target is None:
        raise ValueError(f'--methods {",".join(methods)}: {", ".join(wanted)} train as long as makes their cost '
                         f'equal MixSKD\'s, so they need mixskd (or mixskd-conv) in --methods too')
    path = osp.join(out, 'compute.json')
    counted = {}
    if osp.isfile(path):
        with open(path) as f:
            recorded = json.load(f)
        if recorded.get('img_size') == pretraining.img_size and recorded.get('model') == pretraining.model:
            counted = {k: int(v) for k, v in recorded['macs'].items()}
    needed = [target, *dict.fromkeys(MATCHED[m] for m in wanted)]
    mean, std = pretraining.normalisation or (data['mean'], data['std'])
    for method in needed:
        if method not in counted:
            cfg = model_config(method, pretraining.model, len(data['classes']), mean, std)
            counted[method] = step_macs(cfg, pretraining.img_size)
    match = ComputeMatch(target, pretraining.img_size, {m: counted[m] for m in needed}, pretraining.epochs,
                         {m: matched_epochs(pretraining.epochs, counted[target], counted[MATCHED[m]]) for m in wanted})
    atomic_write_bytes(json.dumps(dict(match.as_json(), model=pretraining.model), indent=1).encode(), path)
    return match


def compute_section(match: ComputeMatch, table: Mapping[str, SummaryRow]) -> Section:
    """The report's part on the compute-matched baselines: what each step costs, how long each matched method
    trained, and the wall-time ratio measured beside the counted one.

    Args:
        match: The counts.
        table: :func:`~mixskd_mm.compare.analysis.summarise` (the measured training times).

    Returns:
        The section; its verdict sentence names each matched method's epochs and the counted cost ratio.
    """
    target = LABELS[match.target]
    lines = ['## Equal compute', '',
             f'A {target} step costs more than a plain one. Each "at equal compute" baseline trains for as many epochs '
             f'as make its multiply-adds equal {target}\'s in {match.epochs} epochs (counted on one training step, '
             f'forward and backward, at {match.img_size} px: the same on every machine), its whole schedule '
             f'stretched to them. The measured training time is beside it: wall time depends on the machine and on '
             f'what shared it.', '',
             '| method | multiply-adds per image and step (M) | epochs | counted cost, x CE | measured time, x CE |',
             '|---|---|---|---|---|']
    ce_macs = match.macs.get('ce')
    for method, row in table.items():
        base = MATCHED.get(method, method)
        epochs = match.matched_epochs.get(method, match.epochs)
        macs = match.macs.get(base)
        counted = macs * epochs / (ce_macs * match.epochs) if macs and ce_macs else None
        measured = row.vs_ce.get('train_seconds')
        lines.append(f'| {LABELS[method]} | {"—" if macs is None else f"{macs / 1e6:.1f}"} | {epochs} | '
                     f'{"—" if counted is None else f"{counted:.2f}"} | '
                     f'{"—" if measured is None else f"{measured:.2f}"} |')
    said = [f'{LABELS[m]} trained {e} epochs to {target}\'s {match.epochs} (a {target} step is '
            f'{match.ratio(m):.2f}x its multiply-adds)' for m, e in match.matched_epochs.items() if m in table]
    return Section(tuple(lines), '; '.join(said) + '.' if said else '')
