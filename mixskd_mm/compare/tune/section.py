"""The tuning's part of the report (a :class:`~mixskd_mm.compare.report.Section`) and its sensitivity plot."""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

from ..configs import LABELS
from ..plan import Comparison
from ..report import Section
from ..results import RunResult
from .spaces import space
from .summary import summarise_tuning

PLOT = 'tuning.png'


def _value(v: float) -> str:
    return f'{v:.3g}'


def _shape_sentence(method: str, m: dict) -> str:
    o, label = m['optimum'], LABELS.get(method, method)
    if o['shape'] == 'undecided':
        return (f'{label}: undecided ({m["complete"]} completed trial(s), '
                f'{"one seed" if o["seed_std"] is None else "seed noise measured"}).')
    words = 'sharp: a setting a user must get right' if o['shape'] == 'sharp' else \
        'flat: most settings tried do about as well'
    return (f'{label}: {words} (best {m["best"]["val_top1"]:.2f} %, {o["gap"]:.2f} points above the median completed '
            f'trial; twice the seed standard deviation is {2 * o["seed_std"]:.2f}).')


def tuning_markdown(t: dict, plot: str) -> list[str]:
    """The section's lines, from :func:`~.summary.summarise_tuning`."""
    s = t['search']
    lines = ['## Tuning (Optuna, validation only)', '',
             f'{s["trials"]} trials per method, each a `tools/train.py` run of {s["epochs"]} epoch(s) on seed '
             f'{t["seed"]}, scored on the validation split (the trial configs hold no test loader, evaluator or '
             f'test_cfg); sampler {s["sampler"]} with {s["sampler_startup"]} random trials first; pruner '
             f'{s["pruner"]["type"]} (n_startup_trials={s["pruner"]["n_startup_trials"]}, '
             f'n_warmup_steps={s["pruner"]["n_warmup_steps"]} epochs) fed each epoch\'s validation top-1 by '
             f'`OptunaPruningHook`. Each method\'s seed runs then trained its best completed trial\'s setting, and '
             f'were tested once. The study is `tune/journal.log`.', '',
             '| method | parameter | config key | range | scale |', '|---|---|---|---|---|']
    lines += [f'| {LABELS.get(r["method"], r["method"])} | {r["name"]} | `{r["key"]}` | {_value(r["low"])} – '
              f'{_value(r["high"])}{" (" + r["relative"] + ")" if r["relative"] else ""} | {r["scale"]} |'
              for r in t['spaces']]
    lines += ['', '| method | best trial | val top-1 (%) | setting | finished | pruned | failed |',
              '|---|---|---|---|---|---|---|']
    for method, m in t['methods'].items():
        names = {p.key: p.name for p in space(method)}
        setting = ', '.join(f'{names[k]}={_value(v)}' for k, v in m['best']['setting'].items())
        lines.append(f'| {LABELS.get(method, method)} | {m["best"]["number"]} | {m["best"]["val_top1"]:.2f} | '
                     f'{setting} | {m["finished"]} | {m["pruned"]} | {m["failed"]} |')
    lines += ['', f'Parameter importances, {t["importance_evaluator"]} (shares of the variance of validation top-1; '
              'rough with few trials):', '']
    for method, m in t['methods'].items():
        found = m['importances']
        text = ', '.join(f'{k} {v:.2f}' for k, v in found.items()) if found else m['importances_note']
        lines.append(f'- {LABELS.get(method, method)}: {text}')
    lines += ['', f'Sharp or flat optimum? Rule: {t["rule"]}.', '']
    lines += [f'- {_shape_sentence(method, m)}' for method, m in t['methods'].items()]
    return lines + ['', f'Sensitivity: `{plot}` (validation top-1 against each tuned parameter, every trial a point; '
                    'pruned trials as grey crosses at the epoch they stopped; the best as a star).']


def tuning_verdict(t: dict) -> str:
    """The sentence the tuning adds to the verdict."""
    shapes = {m: v['optimum']['shape'] for m, v in t['methods'].items()}
    said = '; '.join(f'{LABELS.get(m, m)} {shape}' for m, shape in shapes.items())
    return (f'Every method was compared at its own setting, chosen by {t["search"]["trials"]} Optuna trials on '
            f'validation data; optimum (rule in Tuning): {said}.')


def write_tuning_plot(t: dict, out: str) -> str:
    """Draw :data:`PLOT`: one row per method, one panel per tuned parameter (log x), every trial a point."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    methods = list(t['methods'])
    cols = max(len(space(m)) for m in methods)
    fig, axes = plt.subplots(len(methods), cols, figsize=(2.6 * cols, 2.4 * len(methods)), squeeze=False)
    for row, method in zip(axes, methods):
        m, params = t['methods'][method], space(method)
        for ax, p in zip(row, params):
            for trial in m['trials']:
                pruned = trial['state'] == 'pruned'
                best = trial['number'] == m['best']['number']
                ax.scatter(trial['params'][p.name], trial['val_top1'], marker='*' if best else 'x' if pruned else 'o',
                           s=90 if best else 25, color='tab:red' if best else '0.6' if pruned else 'tab:blue')
            ax.set_xscale('log')
            ax.set_title(f'{LABELS.get(method, method)}: {p.name}', fontsize=8)
            ax.tick_params(labelsize=7)
        row[0].set_ylabel('val top-1 (%)', fontsize=8)
        for ax in row[len(params):]:
            ax.axis('off')
    fig.suptitle('Sensitivity: every trial (o completed, x pruned, * best)', fontsize=9)
    fig.tight_layout()
    fig.savefig(osp.join(out, PLOT), dpi=90)
    plt.close(fig)
    return PLOT


def tuning_part(c: Comparison, results: Sequence[RunResult]) -> tuple[Section, dict, str]:
    """The tuning's section, ``results.json`` entry and plot file (for
    :func:`~mixskd_mm.compare.writing.write_report`)."""
    t = summarise_tuning(c, results)
    plot = write_tuning_plot(t, c.out)
    return Section(tuple(tuning_markdown(t, plot)), tuning_verdict(t)), t, plot
