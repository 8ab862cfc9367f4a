"""Writing a comparison's report: the analysis of its runs' own files, ``report.md``, ``results.json`` and the plots,
with the further analyses' sections (equal compute, tuning, where each model looks)."""
from __future__ import annotations

import json
import os.path as osp
from collections.abc import Sequence

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from . import analysis
from .compute import ComputeMatch, compute_section
from .corrupted import CorruptionEval
from .looks import CAM_IMAGES, looks_section, where_they_look
from .plan import Comparison
from .plots import write_plots
from .report import Section, build_report
from .results import Choice, RunResult
from .robustness import robustness_summary
from .robustness_report import robustness_plot, robustness_section
from .transfer.runs import TransferResult
from .tune.section import tuning_part


def write_report(comparison: Comparison, results: Sequence[RunResult], chosen: dict[str, Choice],
                 transfers: Sequence[TransferResult], seconds: float, match: ComputeMatch | None = None,
                 cam_images: int = CAM_IMAGES, evaluations: Sequence[CorruptionEval] = ()) -> dict:
    """Compute the analysis and write ``report.md``, ``results.json`` and the plots into the comparison's folder
    (``match``: the compute-matched baselines' counts; ``cam_images``: how many images the Grad-CAM figure shows,
    0 for none; ``evaluations``: the runs' evaluations under corruptions, for the part on robustness)."""
    c, split, data = comparison, comparison.split, dict(comparison.data)
    table = analysis.summarise(results, chosen, split)
    pairs = analysis.comparisons(results, chosen, table, split)
    transfer = analysis.transfer_summary(transfers, table)
    reliability = analysis.pooled_reliability(results, table, split)
    note = None if c.settings.scratch_only else f'start: {c.start.start.spec}'
    plots = write_plots(table, reliability, data['classes'], split, c.out, note)
    settings = c.described()
    commands = [line for r in results for line in r.run.command_lines()] + [e.command for e in evaluations] + \
        [t.fine_tune.command for t in transfers]
    sections: list[Section] = []  # the further analyses, each computed from the runs' own files
    extra: dict = {}
    if match:
        sections.append(compute_section(match, table))
        extra['compute'] = match.as_json()
    if c.settings.tune:
        section, extra['tuning'], plot = tuning_part(c, results)
        sections.append(section)
        plots.append(plot)
    robustness = robustness_summary(evaluations, table, split) if evaluations else None
    extra['robustness'] = robustness
    if robustness:
        sections.append(robustness_section(robustness))
        plots.append(robustness_plot(robustness, c.out, note))
    looks = where_they_look(results, table, data['classes'], split, c.out, cam_images,
                            c.pretraining.img_size)
    plots += looks['plots']
    looks_lines, looks_verdict = looks_section(looks)
    sections.append(Section(tuple(looks_lines), looks_verdict))
    extra['looks'] = looks
    report = build_report(data, settings, table, pairs, chosen, transfer, commands, split, plots, c.pretraining.topk,
                          sections)
    atomic_write_bytes(report.markdown.encode(), osp.join(c.out, 'report.md'))
    out = dict(settings=settings, data=data, split=split, summary={m: row.as_json() for m, row in table.items()},
               comparisons=pairs,
               chosen={m: choice.as_json() for m, choice in chosen.items()}, transfer=transfer,
               transfers=[t.as_json() for t in transfers], runs=[r.as_json() for r in results],
               reliability=reliability, plots=plots, verdict=report.verdict, seconds=round(seconds, 1), **extra)
    atomic_write_bytes(json.dumps(out, indent=1).encode(), osp.join(c.out, 'results.json'))
    print('\n'.join(report.console))
    print(f'\n[compare] {report.verdict}')
    if data.get('duplicates', {}).get('message'):  # said when the data were read, and again beside the numbers
        print(f'[compare] warning: {data["duplicates"]["message"]}')
    print(f'[compare] wrote {c.out}/report.md, results.json and {len(plots)} plots', flush=True)
    return out
