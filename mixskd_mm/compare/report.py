"""``report.md`` and the verdict of a comparison, written from the numbers of :mod:`.analysis` (nothing typed in)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .configs import LABELS

if TYPE_CHECKING:
    from .analysis import SummaryRow
    from .results import Choice


def _pm(stat: dict, digits: int = 2) -> str:
    if stat['mean'] is None:
        return '—'
    if stat.get('n') == 1:  # one value has no spread to show
        return f'{stat["mean"]:.{digits}f}'
    return f'{stat["mean"]:.{digits}f} ± {stat["std"]:.{digits}f}'


def _num(value: float | None, digits: int = 1, suffix: str = '') -> str:
    return '—' if value is None else f'{value:.{digits}f}{suffix}'


def describe_difference(diff: dict, unit: str = 'points', digits: int = 2) -> str:
    """One difference in words: ``'+1.10 ± 0.50 points (95 % interval 0.60 to 1.60, significant)'``.

    Args:
        diff: :func:`~mixskd_mm.compare.analysis.paired_difference`.
        unit: Unit of the values.
        digits: Decimals.

    Returns:
        The phrase; it says *not significant* when the interval includes 0 and *one seed: no interval* for ``n = 1``.
    """
    head = f'{diff["mean"]:+.{digits}f}'
    if diff['half_width'] is None:
        return f'{head} {unit} (one seed: no interval, no claim)'
    verdict = 'significant' if diff['significant'] else 'not significant: the interval includes 0'
    return (f'{head} ± {diff["half_width"]:.{digits}f} {unit} (95 % interval {diff["low"]:+.{digits}f} to '
            f'{diff["high"]:+.{digits}f} over {diff["n"]} seeds, {verdict})')


def _short(diff: dict, digits: int = 1) -> str:
    """``'+1.1 ± 0.5'``, with ``(not significant)`` or ``(one seed)`` where no claim can be made."""
    head = f'{diff["mean"]:+.{digits}f}'
    if diff['half_width'] is None:
        return f'{head} (one seed, no interval)'
    return f'{head} ± {diff["half_width"]:.{digits}f}' + ('' if diff['significant'] else ' (not significant)')


def verdict(pairs: Sequence[dict], transfer: dict[str, dict], split: str) -> str:
    """The one-paragraph answer: does MixSKD beat the baselines here, by how much, how surely, at what cost.

    Differences are paired over seeds with their 95 % half-width (:func:`describe_difference` gives the interval);
    a difference whose interval includes 0 is called *not significant*.

    Args:
        pairs: :func:`~mixskd_mm.compare.analysis.comparisons`.
        transfer: :func:`~mixskd_mm.compare.analysis.transfer_summary`.
        split: The split the accuracies are measured on.

    Returns:
        The paragraph, e.g. ``MixSKD +1.1 ± 0.5 over CE, +0.2 ± 0.6 over CutMix (not significant) in test top-1
        (points, 95 % intervals over 3 seeds), at 1.9x CE's training time. ...``.
    """
    if not pairs:
        return 'No MixSKD run was compared with a baseline, so there is no verdict.'
    sentences = []
    for method in dict.fromkeys(p['method'] for p in pairs):
        mine = [p for p in pairs if p['method'] == method]
        n = mine[0]['top1']['n']
        intervals = f'95 % intervals over {n} seeds' if n > 1 else 'one seed: no interval'
        cost = next((f', at {p["time_ratio"]:.1f}x CE\'s training time' for p in mine
                     if p['baseline'] == 'ce' and p['time_ratio']), '')
        sentences.append(f'{LABELS[method]} ' + ', '.join(f'{_short(p["top1"])} over {LABELS[p["baseline"]]}'
                                                         for p in mine)
                         + f' in {split} top-1 (points, {intervals}){cost}.')
        undecided = [LABELS[p['baseline']] for p in mine if not p['top1']['significant']]
        worse = [LABELS[p['baseline']] for p in mine if p['top1']['significant'] and p['top1']['mean'] < 0]
        if worse:
            sentences.append(f'It is significantly worse than {" and ".join(worse)} here.')
        if n < 2:
            sentences.append('With one seed nothing can be said about the noise: run at least 3 seeds to decide.')
        elif undecided:
            sentences.append(f'Against {" and ".join(undecided)} the difference is within the noise of these seeds: '
                             f'more seeds would be needed to tell.')
        elif not worse:
            sentences.append('It beats every baseline here beyond the seed-to-seed noise.')
        sentences.append('ECE (lower is better): ' + ', '.join(f'{_short(p["ece"])} vs {LABELS[p["baseline"]]}'
                                                                for p in mine) + '.')
    for task, summary in transfer.items():
        for method in dict.fromkeys(p['method'] for p in summary['comparisons']):
            mine = [p for p in summary['comparisons'] if p['method'] == method]
            sentences.append(f'{task.capitalize()} ({summary["metric"]}) fine-tuned from the {LABELS[method]} '
                             f'backbone: ' + ', '.join(f'{_short(p["value"])} over {LABELS[p["baseline"]]}'
                                                       for p in mine) + '.')
    return ' '.join(sentences)


@dataclass(frozen=True)
class Section:
    """A part of the report that one further analysis adds (beside the accuracy, cost and transfer parts).

    Attributes:
        markdown: Its lines in ``report.md``, from its ``## Title`` on.
        verdict: What it adds to the verdict (whole sentences; ``''``: nothing).
    """

    markdown: tuple[str, ...]
    verdict: str = ''


@dataclass(frozen=True)
class Report:
    """The report of a comparison, in its parts.

    Attributes:
        verdict: The one-paragraph answer (:func:`verdict`).
        markdown: The text of ``report.md``: the verdict, then one section per kind of number.
        console: The short table for the terminal (:func:`console_table`).
    """

    verdict: str
    markdown: str
    console: tuple[str, ...]


def build_report(data: dict, settings: dict, table: Mapping[str, SummaryRow], pairs: Sequence[dict],
                 chosen: Mapping[str, Choice], transfer: dict[str, dict], commands: Sequence[str], split: str,
                 plots: Sequence[str], topk: int, sections: Sequence[Section] = ()) -> Report:
    """The report, from the numbers of :mod:`.analysis`.

    Args:
        data: The data summary.
        settings: The comparison's settings as ``results.json`` records them
            (:meth:`~mixskd_mm.compare.plan.Comparison.described`).
        table: :func:`~mixskd_mm.compare.analysis.summarise`.
        pairs: :func:`~mixskd_mm.compare.analysis.comparisons`.
        chosen: :func:`~mixskd_mm.compare.results.choose_variants`.
        transfer: :func:`~mixskd_mm.compare.analysis.transfer_summary`.
        commands: The command of every run and fine-tune, in order.
        split: Where the accuracies are measured.
        plots: The PNG files written beside the report.
        topk: The k of top-k.
        sections: The further analyses' parts, in order: their sentences follow the verdict's, their markdown
            precedes the list of runs.

    Returns:
        The report's parts.
    """
    answer = ' '.join([verdict(pairs, transfer, split)] + [s.verdict for s in sections if s.verdict])
    lines = ['# Does MixSKD pay off on this data?', '', '## Verdict', '', answer, '']
    lines += _setup_section(data, settings, split)
    lines += _results_section(settings, table, topk)
    lines += _pairs_section(pairs)
    lines += _per_class_section(data['classes'], table)
    lines += _sweep_section(chosen)
    lines += _transfer_sections(transfer)
    for section in sections:
        lines += [*section.markdown, '']
    lines += _runs_section(commands, plots)
    return Report(answer, '\n'.join(lines) + '\n', tuple(console_table(table, transfer)))


def _setup_section(data: dict, settings: dict, split: str) -> list[str]:
    """What was compared: data, image sizes, model and schedule, and where the numbers are measured."""
    classes = data['classes']
    counts = ', '.join(f'{s} {v["images"]}' for s, v in data['splits'].items())
    where = ('the test split, evaluated once per run after training; every choice was made on validation'
             if split == 'test' else
             'the validation split (there is no test split)' + (
                 ': the sweep chose its setting on this same split, so these numbers are optimistic'
                 if settings.get('sweep') else ''))
    lines = ['## Setup', '',
             f'- Data: `{data["name"]}` ({data["layout"]}), {len(classes)} classes; images: {counts}'
             + (' (validation carved from training)' if data['carved_val'] else '') + '.',
             f'- Images: modes {data["modes"]}, width {data["sizes"]["width"]["min"]}–{data["sizes"]["width"]["max"]}'
             f' px, height {data["sizes"]["height"]["min"]}–{data["sizes"]["height"]["max"]} px; trained at '
             f'{settings["img_size"]}x{settings["img_size"]}.',
             f'- Model: timm `{settings["model"]}`; {settings["epochs"]} epochs, batch {settings["batch"]}, SGD lr '
             f'{settings["lr"]} ({"1 warm-up epoch, " if settings["epochs"] > 1 else ""}cosine); '
             f'seeds {", ".join(map(str, settings["seeds"]))}; the same '
             f'data, schedule and seeds for every method'
             + ('; mixed precision (`tools/train.py --amp`) in every pretraining run.' if settings.get('amp') else '.'),
             f'- Accuracy, calibration and per-class numbers are measured on {where}.']
    if settings.get('start'):
        lines.insert(4, f'- Start: {settings["start"]["description"]}.')
    return lines + [f'- Note: {note}' for note in data.get('notes', [])]


def _results_section(settings: dict, table: Mapping[str, SummaryRow], k: int) -> list[str]:
    """One row per method: accuracy, calibration and cost, each cost also as a ratio to CE (``k``: of top-k)."""
    lines = ['', '## Results', '',
             f'| method | top-1 (%) | top-{k} (%) | ECE (%) | train time (s) | vs CE | images/s | vs CE | '
             f'peak memory (MiB) | vs CE |', '|---|---|---|---|---|---|---|---|---|---|']
    for row in table.values():
        memory_key = 'peak_gpu_mib' if row.cost['peak_gpu_mib']['mean'] is not None else 'max_rss_mib'
        memory, memory_ratio = row.cost[memory_key], row.vs_ce[memory_key]
        lines.append(f'| {row.label} | {_pm(row.top1)} | {_pm(row.topk)} | {_pm(row.ece)} | '
                     f'{_num(row.cost["train_seconds"]["mean"], 0)} | {_num(row.vs_ce["train_seconds"], 2, "x")} | '
                     f'{_num(row.cost["images_per_s"]["mean"], 1)} | {_num(row.vs_ce["images_per_s"], 2, "x")} | '
                     f'{_num(memory["mean"], 0)} | {_num(memory_ratio, 2, "x")} |')
    return lines + ['', f'Mean ± sample standard deviation over {len(settings["seeds"])} seed(s). Train time: wall '
                    'time of `tools/train.py` (validation included; summed over the attempts of a resumed run, an '
                    'attempt cut short is not counted; runs the comparison did not run itself: iterations x the '
                    'median iteration time of their log); images/s from the training log; peak memory: CUDA '
                    'allocations where mmengine logs them, else the peak resident memory of the training process. '
                    f'Runs shared the machine ({settings.get("jobs", 1)} at a time), so cost ratios are more '
                    'reliable than absolute times.', '']


def _pairs_section(pairs: Sequence[dict]) -> list[str]:
    """The paired differences of each MixSKD variant to its baselines, with their intervals."""
    if not pairs:
        return []
    lines = ['## Paired differences (per seed, 95 % interval)', '',
             '| method | baseline | top-1 difference | ECE difference | time ratio |', '|---|---|---|---|---|']
    lines += [f'| {LABELS[p["method"]]} | {LABELS[p["baseline"]]} | {describe_difference(p["top1"])} | '
              f'{describe_difference(p["ece"])} | {_num(p["time_ratio"], 2, "x")} |' for p in pairs]
    return lines + ['', 'The best cheap baseline (Mixup or CutMix) is the one with the better mean *validation* '
                    'top-1.', '']


def _per_class_section(classes: Sequence[str], table: Mapping[str, SummaryRow]) -> list[str]:
    """Each class's accuracy under CE and every other method's change from it."""
    if 'ce' not in table:
        return []
    others = [m for m in table if m != 'ce']
    lines = ['## Per-class accuracy change vs CE (percentage points, mean over seeds)', '',
             '| class | CE | ' + ' | '.join(LABELS[m] for m in others) + ' |', '|---|---|' + '---|' * len(others)]
    for c, name in enumerate(classes):
        ce = table['ce'].per_class[c]
        values = [table[m].per_class[c] for m in others]
        cells = ['—' if ce is None or v is None else f'{v - ce:+.1f}' for v in values]
        lines.append(f'| {name} | {_num(ce, 1)} | ' + ' | '.join(cells) + ' |')
    return lines + ['']


def _sweep_section(chosen: Mapping[str, Choice]) -> list[str]:
    """Every sweep variant's validation top-1 and the one chosen (nothing without a sweep)."""
    if not any(len(c.candidates) > 1 for c in chosen.values()):
        return []
    lines = ['## Sweep (chosen on validation top-1)', '', '| method | setting | val top-1 (%) | chosen |',
             '|---|---|---|---|']
    for method, choice in chosen.items():
        for cand in choice.candidates:
            mark = 'yes' if cand.variant == choice.variant else ''
            lines.append(f'| {LABELS[method]} | {cand.variant.as_dict() or "default"} | {cand.val_top1:.2f} | {mark} |')
    return lines + ['']


def _transfer_sections(transfer: dict[str, dict]) -> list[str]:
    """One section per transfer task: each backbone's mAP / mIoU and the differences between backbones."""
    lines = []
    for task, summary in transfer.items():
        lines += [f'## Transfer: {task} ({summary["metric"]})', '', '| backbone | value | fine-tunes |',
                  '|---|---|---|']
        lines += [f'| {LABELS[m]} | {_pm(v)} | {v["n"]} |' for m, v in summary['per_method'].items()]
        lines += [f'- {LABELS[p["method"]]} - {LABELS[p["baseline"]]}: {describe_difference(p["value"])}'
                  for p in summary['comparisons']]
        lines.append('')
    return lines


def _runs_section(commands: Sequence[str], plots: Sequence[str]) -> list[str]:
    """The exact command of every run and fine-tune, and the plots."""
    lines = ['## Runs', '', 'Every run is one of the project\'s tools on a config file kept in its work directory:',
             '', '```bash', *commands]
    return lines + ['```', '', 'Plots: ' + ', '.join(f'`{p}`' for p in plots) + '.']


def console_table(table: Mapping[str, SummaryRow], transfer: dict[str, dict]) -> list[str]:
    """A short table for the terminal."""
    lines = [f'{"method":<22} {"top-1 (%)":>16} {"ECE (%)":>14} {"time vs CE":>11}'
             + ''.join(f' {task:>16}' for task in transfer)]
    for method, row in table.items():
        cells = ''.join(f' {_pm(s["per_method"].get(method, dict(mean=None))):>16}' for s in transfer.values())
        lines.append(f'{row.label:<22} {_pm(row.top1):>16} {_pm(row.ece):>14} '
                     f'{_num(row.vs_ce["train_seconds"], 2, "x"):>11}' + cells)
    return lines
