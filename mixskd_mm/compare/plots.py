"""The PNG plots of a comparison (matplotlib's Agg backend: no display needed)."""
from __future__ import annotations

import os.path as osp
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .analysis import SummaryRow

PLOTS = ('accuracy.png', 'reliability.png', 'per_class.png', 'cost.png')


def write_plots(table: Mapping[str, SummaryRow], reliability: dict[str, dict], classes: Sequence[str], split: str,
                out: str, note: str | None = None) -> list[str]:
    """Draw the comparison's plots into ``out``.

    Args:
        table: :func:`~mixskd_mm.compare.analysis.summarise`.
        reliability: :func:`~mixskd_mm.compare.analysis.pooled_reliability`.
        classes: Class names.
        split: The split the numbers are measured on.
        out: Output folder.
        note: A line written in the corner of every plot (the start the backbones began from), or ``None``.

    Returns:
        The file names written (:data:`PLOTS`; ``per_class.png`` only when CE was run).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    written = [_accuracy_plot(plt, table, split, out, note),
               _reliability_plot(plt, table, reliability, split, out, note)]
    if 'ce' in table and len(table) > 1:
        written.append(_per_class_plot(plt, table, classes, out, note))
    written.append(_cost_plot(plt, table, split, out, note))
    return written


def _accuracy_plot(plt, table: Mapping[str, SummaryRow], split: str, out: str, note: str | None = None) -> str:
    """Bars of each method's mean top-1 with the seed-to-seed standard deviation."""
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(table)), 4))
    means = [row.top1['mean'] for row in table.values()]
    ax.bar([row.label for row in table.values()], means, yerr=[row.top1['std'] for row in table.values()],
           capsize=4, color='tab:blue')
    low = min(means) - 3 * max(1.0, max(row.top1['std'] for row in table.values()))
    ax.set(ylabel=f'{split} top-1 (%)', title='Top-1 accuracy, mean ± std over seeds', ylim=(max(0, low), None))
    for tick in ax.get_xticklabels():
        tick.set_rotation(15)
    return _save(fig, plt, osp.join(out, 'accuracy.png'), note)


def _reliability_plot(plt, table: Mapping[str, SummaryRow], reliability: dict[str, dict], split: str, out: str,
                      note: str | None = None) -> str:
    """One reliability diagram per method: accuracy against confidence, pooled over seeds."""
    fig, axes = plt.subplots(1, len(reliability), figsize=(3.2 * len(reliability), 3.4), squeeze=False)
    for ax, (method, bins) in zip(axes[0], reliability.items()):
        centres = [(a + b) / 2 for a, b in zip(bins['edges'][:-1], bins['edges'][1:])]
        width = bins['edges'][1] - bins['edges'][0]
        filled = [i for i, n in enumerate(bins['count']) if n]
        ax.bar([centres[i] for i in filled], [bins['accuracy'][i] for i in filled], width=width * 0.95,
               color='tab:blue', label='accuracy')
        ax.plot([0, 1], [0, 1], 'k--', linewidth=1, label='calibrated')
        ax.set(title=f'{table[method].label} (ECE {table[method].ece["mean"]:.2f})', xlabel='confidence',
               ylabel='accuracy', xlim=(0, 1), ylim=(0, 1))
    axes[0][0].legend(loc='upper left', fontsize=8)
    fig.suptitle(f'Reliability diagrams ({split}, all seeds)')
    return _save(fig, plt, osp.join(out, 'reliability.png'), note)


def _per_class_plot(plt, table: Mapping[str, SummaryRow], classes: Sequence[str], out: str,
                    note: str | None = None) -> str:
    """Grouped bars: every method's per-class accuracy change from CE."""
    others = [m for m in table if m != 'ce']
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(classes) * len(others)), 4))
    width = 0.8 / len(others)
    for j, method in enumerate(others):
        change = [0.0 if a is None or b is None else a - b
                  for a, b in zip(table[method].per_class, table['ce'].per_class)]
        ax.bar([c + j * width for c in range(len(classes))], change, width=width, label=table[method].label)
    ax.axhline(0, color='k', linewidth=0.8)
    ax.set_xticks([c + 0.4 - width / 2 for c in range(len(classes))])
    ax.set_xticklabels(classes, rotation=30, ha='right', fontsize=8)
    ax.set(ylabel='accuracy change vs CE (points)', title='Per-class accuracy change vs CE (mean over seeds)')
    ax.legend(fontsize=8)
    return _save(fig, plt, osp.join(out, 'per_class.png'), note)


def _cost_plot(plt, table: Mapping[str, SummaryRow], split: str, out: str, note: str | None = None) -> str:
    """Each method's mean top-1 against its mean training time."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for row in table.values():
        cost = row.cost['train_seconds']['mean']
        if cost is not None:
            ax.errorbar(cost, row.top1['mean'], yerr=row.top1['std'], fmt='o', capsize=3)
            ax.annotate(row.label, (cost, row.top1['mean']), textcoords='offset points', xytext=(5, 5))
    ax.set(xlabel='training time (s)', ylabel=f'{split} top-1 (%)', title='Accuracy against training cost')
    return _save(fig, plt, osp.join(out, 'cost.png'), note)


def _save(fig, plt, path: str, note: str | None = None) -> str:
    fig.tight_layout()
    if note:
        fig.text(0.005, 0.005, note, fontsize=7, color='0.35', ha='left', va='bottom')
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return osp.basename(path)
