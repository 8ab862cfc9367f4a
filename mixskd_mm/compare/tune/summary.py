"""What the tuning found, from the trials' own files and the study's journal: each method's trials, its best setting,
Optuna's parameter importances, and whether its optimum is sharp or flat (``results.json``'s ``tuning``)."""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from ..plan import Comparison
from ..results import RunResult
from .spaces import distributions, search_settings, space, space_rows
from .studies import counted, load_study
from .trials import TrialRun

#: how a method's optimum is called sharp or flat (the report prints it)
RULE = ('sharp when the best completed trial beats the median completed trial by more than twice the seed-to-seed '
        'standard deviation of validation top-1 at the chosen setting (the setting matters beyond the noise: a user '
        'must get it right), flat otherwise (most settings tried do about as well as the best); undecided with fewer '
        'than 3 completed trials or fewer than 2 seeds. Pruned trials are left out of the median: they stopped early, '
        'below the median of their epoch, so the rule understates the spread rather than overstating it')
#: the evaluator of Optuna's parameter importances, as the report names it
EVALUATOR = 'fANOVA (Optuna\'s FanovaImportanceEvaluator, seed 0: a random forest over the completed trials)'


def _trial_row(c: Comparison, method: str, trial) -> dict:
    """One trial as the report lists it: its value from its work directory (the journal's where the files are gone)."""
    run = TrialRun(c.out, method, trial.number, c.pretraining.epochs)
    outcome = run.outcome()
    steps = sorted(trial.intermediate_values)
    value = outcome.val_top1 if outcome else (trial.value if trial.value is not None else None)
    return dict(number=trial.number, state=trial.state.name.lower(), params=dict(trial.params), val_top1=value,
                epochs=outcome.epochs if outcome else (steps[-1] if steps else None),
                per_epoch={str(s): trial.intermediate_values[s] for s in steps}, source='files' if outcome else
                'journal', config=run.config)


def importances(method: str, lr: float, trials: Sequence) -> tuple[dict[str, float] | None, str]:
    """Optuna's parameter importances (:data:`EVALUATOR`) over the completed trials, or ``None`` and why not."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    complete = [t for t in trials if t.state.name == 'COMPLETE']
    if len(complete) < 2:
        return None, f'not computed: {len(complete)} completed trial(s), it needs 2'
    if len({t.value for t in complete}) == 1:
        return None, 'not computed: every completed trial scored the same'
    study = optuna.create_study(direction='maximize')
    study.add_trials(complete)
    try:
        found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0),
                                      params=list(distributions(method, lr)))
    except (RuntimeError, ValueError) as err:
        return None, f'not computed: {err}'
    if any(not math.isfinite(v) for v in found.values()):
        return None, 'not computed: fANOVA gave no finite importances'
    return {name: float(v) for name, v in found.items()}, ''


def optimum_shape(best: float, values: Sequence[float], seed_top1: Sequence[float]) -> dict:
    """The :data:`RULE` on one method: ``shape`` ('sharp', 'flat' or 'undecided'), the gap and the seed noise."""
    noise = statistics.stdev(seed_top1) if len(seed_top1) >= 2 else None
    gap = best - statistics.median(values) if values else None
    if len(values) < 3 or noise is None or gap is None:
        shape = 'undecided'
    else:
        shape = 'sharp' if gap > 2 * noise else 'flat'
    return dict(shape=shape, gap=gap, seed_std=noise)


def summarise_tuning(c: Comparison, results: Sequence[RunResult]) -> dict:
    """``results.json``'s ``tuning``: the search, the spaces, and per method its trials, best setting, importances
    and optimum (:data:`RULE`).

    Args:
        c: The comparison.
        results: Its seed runs' results (their validation top-1 gives the seed noise of the rule).
    """
    n, epochs, lr = c.settings.tune or 0, c.pretraining.epochs, c.pretraining.lr
    methods = list(c.settings.methods)
    per_method: dict[str, dict] = {}
    out = dict(search=search_settings(n, epochs), seed=c.settings.seeds[0], spaces=space_rows(methods, lr),
               importance_evaluator=EVALUATOR, rule=RULE, methods=per_method)
    for method in methods:
        every = load_study(c.out, method, n, epochs).get_trials()
        kept = counted(every, n)
        rows = [_trial_row(c, method, t) for t in kept]
        complete = [r for r in rows if r['state'] == 'complete']
        best = max(complete, key=lambda r: r['val_top1'])  # the first of equal values, as best_variants chooses
        seed_top1 = [r.val['top1'] for r in results if r.key.method == method]
        found, why = importances(method, lr, kept)
        per_method[method] = dict(
            finished=len(rows), complete=len(complete), pruned=sum(r['state'] == 'pruned' for r in rows),
            failed=sum(t.state.name == 'FAIL' for t in every),
            best=dict(number=best['number'], val_top1=best['val_top1'],
                      setting={p.key: best['params'][p.name] for p in space(method)}),
            importances=found, importances_note=why,
            optimum=optimum_shape(best['val_top1'], [r['val_top1'] for r in complete], seed_top1), trials=rows)
    return out
