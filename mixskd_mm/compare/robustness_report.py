"""The report's part on common corruptions (:func:`robustness_section`) and its plot (:func:`robustness_plot`), from
:func:`~mixskd_mm.compare.robustness.robustness_summary` (nothing typed in)."""
from __future__ import annotations

import os.path as osp

from mixskd_mm.datasets.corruptions import CORRUPTIONS

from .configs import LABELS
from .report import Section, _pm, _short, describe_difference

PLOT = 'robustness.png'
#: how the report names each corruption
NAMES = {'gaussian_noise': 'Gaussian noise', 'gaussian_blur': 'Gaussian blur', 'brightness': 'brightness',
         'contrast': 'contrast', 'jpeg': 'JPEG'}


def _severities(summary: dict) -> list[int]:
    return sorted({s['severity'] for s in summary['sets']})


def _per_corruption(summary: dict, method: str, corruption: str) -> float:
    """A method's mean top-1 over seeds and severities under one corruption."""
    sets = summary['per_method'][method]['sets']
    values = [sets[f'{corruption}-{s}']['mean'] for s in _severities(summary)]
    return sum(values) / len(values)


def verdict_sentences(summary: dict) -> str:
    """What the robustness evaluation adds to the verdict: each MixSKD variant's corruption accuracy and drop against
    its baselines (paired over seeds, 95 % intervals)."""
    sentences = []
    for method in dict.fromkeys(p['method'] for p in summary['comparisons']):
        mine = [p for p in summary['comparisons'] if p['method'] == method]
        row = summary['per_method'][method]
        sentences.append(
            f'Under common corruptions ({len(CORRUPTIONS)} kinds x {len(_severities(summary))} severities, ImageNet-C '
            f'style, {summary["images"]} {summary["split"]} images) {LABELS[method]} keeps {row["mean"]["mean"]:.1f} % '
            f'top-1 (a drop of {row["drop"]["mean"]:.1f} points from clean): '
            + ', '.join(f'{_short(p["mean"])} over {LABELS[p["baseline"]]}' for p in mine)
            + ' in corruption accuracy, and its drop differs by '
            + ', '.join(f'{_short(p["drop"])} from {LABELS[p["baseline"]]}\'s' for p in mine)
            + ' (points; a negative drop difference: it loses less).')
    return ' '.join(sentences)


def robustness_section(summary: dict) -> Section:
    """The report's section: what was corrupted and how, each method's numbers, the pairs, and the verdict's part."""
    methods = list(summary['per_method'])
    severities = _severities(summary)
    lines = ['## Robustness to common corruptions', '',
             f'Every run was evaluated once more on {summary["images"]} images of the {summary["split"]} split under '
             f'{len(CORRUPTIONS)} corruptions at ImageNet-C\'s severities {", ".join(map(str, severities))} (Hendrycks '
             f'and Dietterich, ICLR 2019; parameters below, `mixskd_mm/datasets/corruptions.py`), applied after the '
             f'test resize at the network\'s input size. The corrupted images were written once (`{summary["folder"]}`)'
             f' and every run\'s evaluation read them: the digests of the pixels each run read were checked against '
             f'the manifest for every run, so every method saw byte-identical inputs.', '',
             '| method | clean (%) | under corruptions (%) | drop (points) | '
             + ' | '.join(NAMES[c] for c in CORRUPTIONS) + ' |', '|---|---|---|---|' + '---|' * len(CORRUPTIONS)]
    for m in methods:
        row = summary['per_method'][m]
        lines.append(f'| {LABELS[m]} | {_pm(row["clean"])} | {_pm(row["mean"])} | {_pm(row["drop"])} | '
                     + ' | '.join(f'{_per_corruption(summary, m, c):.1f}' for c in CORRUPTIONS) + ' |')
    lines += ['', 'Clean: top-1 on the same images uncorrupted; under corruptions: the mean top-1 over the '
              f'{len(summary["sets"])} corrupted sets; drop: clean minus that (each mean ± std over seeds); one '
              'column per corruption: the mean over its severities.', '',
              '| corruption | severity | parameter (blur: sigma in px) | ' + ' | '.join(LABELS[m] for m in methods)
              + ' |',
              '|---|---|---|' + '---|' * len(methods)]
    for entry in summary['sets']:
        key = f'{entry["corruption"]}-{entry["severity"]}'
        lines.append(f'| {NAMES[entry["corruption"]]} | {entry["severity"]} | {entry["parameter"]} | '
                     + ' | '.join(_pm(summary['per_method'][m]['sets'][key], 1) for m in methods) + ' |')
    if summary['comparisons']:
        lines += ['', 'Paired over seeds (95 % intervals):', '']
    lines += [f'- {LABELS[p["method"]]} - {LABELS[p["baseline"]]}: corruption accuracy '
              f'{describe_difference(p["mean"])}; drop {describe_difference(p["drop"])}'
              for p in summary['comparisons']]
    lines += ['', f'Plot: `{PLOT}` (top-1 against severity, one panel per corruption; severity 0 is clean).']
    return Section(markdown=tuple(lines), verdict=verdict_sentences(summary))


def robustness_plot(summary: dict, out: str, note: str | None = None) -> str:
    """One panel per corruption: each method's mean top-1 (± std over seeds) against the severity (0: clean)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from .plots import _save
    severities = _severities(summary)
    fig, axes = plt.subplots(1, len(CORRUPTIONS), figsize=(3.0 * len(CORRUPTIONS), 3.4), sharey=True, squeeze=False)
    for ax, corruption in zip(axes[0], CORRUPTIONS):
        for method, row in summary['per_method'].items():
            stats = [row['clean']] + [row['sets'][f'{corruption}-{s}'] for s in severities]
            ax.errorbar([0, *severities], [s['mean'] for s in stats], yerr=[s['std'] or 0.0 for s in stats],
                        marker='o', capsize=3, label=LABELS[method])
        ax.set(title=NAMES[corruption], xlabel='severity', xticks=[0, *severities])
    axes[0][0].set_ylabel(f'{summary["split"]} top-1 (%)')
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f'Top-1 under common corruptions ({summary["images"]} images, mean ± std over seeds)')
    return _save(fig, plt, osp.join(out, PLOT), note)
