"""A comparison from several starts (``--init scratch,timm``): each start's own report, and the one across them.

Within a start, methods are compared as in any comparison (``OUT/starts/LABEL/report.md``). Across starts this
module answers the practitioner's question: which start pays off, and is MixSKD from one start better than the
plain baseline from another? It compares the best method of each start (chosen on validation top-1, as sweep
variants are) with the best of every other, and MixSKD from each start with CE from every other, paired over seeds
on the split the numbers are measured on. ``OUT/report.md`` and ``OUT/results.json`` hold it.
"""
from __future__ import annotations

import json
import os.path as osp
from collections.abc import Mapping, Sequence
from typing import Any

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from .analysis import paired_difference
from .configs import LABELS
from .report import describe_difference
from .starts import PlannedStart


def per_seed(results: Mapping[str, Any], method: str) -> dict[int, float]:
    """``{seed: top-1}`` of a method's chosen runs in a start's ``results.json``, on its measured split."""
    names = set(results['summary'][method]['runs'])
    split = results['split']
    return {r['seed']: r[split]['top1'] for r in results['runs'] if r['name'] in names}


def best_method(results: Mapping[str, Any]) -> str:
    """The start's best method on validation top-1 (its mean over seeds), as the sweep chooses its variants."""
    summary = results['summary']
    return max(summary, key=lambda m: summary[m]['val_top1']['mean'])


def _pair(label: str, a: dict[int, float], b: dict[int, float]) -> dict[str, Any] | None:
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    return dict(pair=label, seeds=seeds, top1=paired_difference([a[s] for s in seeds], [b[s] for s in seeds]))


def across_starts(starts: Sequence[PlannedStart], results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each start's best method and the paired differences across starts.

    Args:
        starts: The planned starts, in ``--init`` order.
        results: Each start's ``results.json`` content, by label.

    Returns:
        ``rows`` (one per start: its record, best method and that method's top-1 and validation top-1) and
        ``pairs`` (best vs best of every two starts, then MixSKD from one start vs CE from another).
    """
    rows, best = [], {}
    for p in starts:
        r = results[p.label]
        method = best_method(r)
        best[p.label] = (method, per_seed(r, method))
        row = r['summary'][method]
        rows.append(dict(start=p.as_json(), best=method, top1=row['top1'], val_top1=row['val_top1'],
                         epochs=r['settings']['epochs'], lr=r['settings']['lr'], img_size=r['settings']['img_size']))
    pairs = []
    for i, a in enumerate(starts):
        for b in starts[i + 1:]:
            (ma, sa), (mb, sb) = best[a.label], best[b.label]
            pairs.append(_pair(f'{LABELS[ma]} from {a.label} - {LABELS[mb]} from {b.label}', sa, sb))
    for a in starts:
        for b in starts:
            ra, rb = results[a.label]['summary'], results[b.label]['summary']
            if a.label != b.label and 'mixskd' in ra and 'ce' in rb:
                pairs.append(_pair(f'MixSKD from {a.label} - CE from {b.label}', per_seed(results[a.label], 'mixskd'),
                                   per_seed(results[b.label], 'ce')))
    return dict(rows=rows, pairs=[p for p in pairs if p is not None])


def across_verdict(across: Mapping[str, Any], verdicts: Mapping[str, str], split: str) -> str:
    """The answer across starts, from :func:`across_starts`' JSON and each start's own verdict."""
    rows = across['rows']
    top = max(rows, key=lambda r: r['val_top1']['mean'])
    lines = [f'Best on validation: {LABELS[top["best"]]} from {top["start"]["label"]} '
             f'({top["top1"]["mean"]:.2f} % {split} top-1).']
    for pair in across['pairs']:
        lines.append(f'{pair["pair"]}: {describe_difference(pair["top1"])}.')
    for row in rows:
        label = row['start']['label']
        lines.append(f'Within {label}: {verdicts[label]}')
    return ' '.join(lines)


def write_across(out: str, settings: dict, starts: Sequence[PlannedStart], results: Mapping[str, Mapping[str, Any]],
                 verdicts: Mapping[str, str], seconds: float) -> dict[str, Any]:
    """Write ``out/report.md`` and ``out/results.json`` across the starts; returns the JSON written."""
    split = next(iter(results.values()))['split']
    across = across_starts(starts, results)
    text = across_verdict(across, verdicts, split)
    md = ['# Does MixSKD pay off on this data, and from which start?', '', '## Verdict', '', text, '',
          '## Starts', '', '| start | best method (validation) | ' + f'{split} top-1 (%) | epochs | lr | image size |',
          '|---|---|---|---|---|---|']
    for row in across['rows']:
        md.append(f'| {row["start"]["label"]} | {LABELS[row["best"]]} | {row["top1"]["mean"]:.2f} ± '
                  f'{row["top1"]["std"] or 0:.2f} | {row["epochs"]} | {row["lr"]} | {row["img_size"]} |')
    md += [''] + [f'- {p.label}: {p.describe()}; report: `starts/{p.label}/report.md`' for p in starts]
    md += ['', '## Across starts (paired over seeds)', '', '| difference | top-1 points |', '|---|---|']
    md += [f'| {p["pair"]} | {describe_difference(p["top1"])} |' for p in across['pairs']]
    md += ['', 'Mean ± sample standard deviation over seeds. Each start trains with its own schedule defaults '
           '(fewer epochs and a lower learning rate from pretrained weights) unless --epochs / --lr set them.', '']
    atomic_write_bytes('\n'.join(md).encode(), osp.join(out, 'report.md'))
    summary = dict(settings=settings, starts=[p.as_json() for p in starts], across=across, verdict=text,
                   verdicts=dict(verdicts), split=split,
                   results={p.label: osp.join('starts', p.label, 'results.json') for p in starts},
                   seconds=round(seconds, 1))
    atomic_write_bytes(json.dumps(summary, indent=1).encode(), osp.join(out, 'results.json'))
    print(f'\n[compare] across starts: {text}')
    print(f'[compare] wrote {out}/report.md and results.json (each start: {out}/starts/LABEL/)', flush=True)
    return summary
