"""Running ``--tune``: every method's N trials through the comparison's :class:`~mixskd_mm.compare.processes.ToolPool`
(or the command a cluster runs to do it), then each method's best setting as the variant its seed runs train.
"""
from __future__ import annotations

import os.path as osp
import shlex
from collections.abc import Sequence
from functools import partial

from ..plan import Comparison
from ..processes import ToolPool
from ..running import COST_RANK
from ..study import Variant
from .spaces import overrides
from .studies import claim, counted, heartbeat, load_study
from .trials import Outcome, TrialRun, write_trial_config

#: the name of a tuned variant (runs are named ``METHOD_tuned_seedS``)
TUNED = 'tuned'


def _tell(c: Comparison, run: TrialRun, outcome: Outcome | None, error: str | None = None) -> None:
    """Finish the trial in its study: PRUNED (Optuna keeps the last value reported), COMPLETE with the validation
    top-1 of its score file, or FAIL with the error; the checkpoints of a finished trial are deleted."""
    from optuna.trial import TrialState
    study = load_study(c.out, run.method, c.settings.tune or 0, run.epochs)
    if outcome is None:
        study.set_user_attr(f'failed_{run.number}', error or 'failed')
        study.tell(run.number, state=TrialState.FAIL, skip_if_finished=True)
        return
    if outcome.pruned:
        study.tell(run.number, state=TrialState.PRUNED, skip_if_finished=True)
    else:
        study.tell(run.number, outcome.val_top1, skip_if_finished=True)
    run.drop_checkpoints()


def work_on(pool: ToolPool, c: Comparison, method: str) -> int:
    """Claim and run ``method``'s trials until N are finished or running; returns how many this worker ran.

    A trial whose ``tools/train.py`` fails is told FAIL and does not count (another is asked for).

    Raises:
        RuntimeError: when more than N trials of the method have failed (something is wrong with every setting).
    """
    from optuna.trial import TrialState
    trials, p, ran = c.settings.tune or 0, c.pretraining, 0
    while (claimed := claim(c.out, method, trials, p.epochs, p.lr)) is not None:
        run = TrialRun(c.out, method, claimed.number, p.epochs, p.amp)
        write_trial_config(c, run, claimed.params, trials)
        outcome, error = run.outcome(), None
        if outcome is None:
            with heartbeat(c.out, method, run.number):
                try:
                    pool.run(f'{run.name}{" (resume)" if claimed.resumed else ""}', run.train_args(), run.log,
                             p.iters_per_epoch * p.epochs, p.iters_per_epoch)
                except RuntimeError as err:
                    error = str(err)[-2000:]
            outcome = run.outcome()
            if outcome is None and error is None:
                error = f'{run.name}: tools/train.py ended without scores or a pruning marker (log: {run.log})'
        _tell(c, run, outcome, error)
        ran += 1
        failed = [t for t in load_study(c.out, method, trials, p.epochs).get_trials(deepcopy=False)
                  if t.state == TrialState.FAIL]
        if len(failed) > trials:
            raise RuntimeError(f'--tune: {len(failed)} trials of {method} failed (more than the {trials} asked for); '
                               f'see the logs in {osp.dirname(run.log)}, the last: {error}')
    return ran


def progress(c: Comparison, methods: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per method: trials ``finished`` (of the N that count), ``running`` and ``failed``."""
    from optuna.trial import TrialState
    trials = c.settings.tune or 0
    out = {}
    for method in methods:
        every = load_study(c.out, method, trials, c.pretraining.epochs).get_trials(deepcopy=False)
        out[method] = dict(finished=len(counted(every, trials)),
                           running=sum(t.state == TrialState.RUNNING for t in every),
                           failed=sum(t.state == TrialState.FAIL for t in every))
    return out


def unfinished(comparisons: Sequence[Comparison]) -> list[str]:
    """``'[START/]METHOD: K of N trials finished (R running)'`` for every method whose tuning is not done."""
    several = len(comparisons) > 1
    lines = []
    for c in comparisons:
        for method, n in progress(c, c.settings.methods).items():
            if n['finished'] < (c.settings.tune or 0):
                lines.append(f'{c.start.label + "/" if several else ""}{method}: {n["finished"]} of '
                             f'{c.settings.tune} trials finished ({n["running"]} running)')
    return lines


def tune_all(pool: ToolPool, comparisons: Sequence[Comparison]) -> None:
    """Run every comparison's tuning to N finished trials per method, ``pool.jobs`` trials at a time (the most
    expensive methods first; several workers may share a method's study)."""
    tasks = []
    for c in comparisons:
        methods = sorted(c.settings.methods, key=lambda m: COST_RANK.get(m, len(COST_RANK)))
        tasks += [partial(work_on, pool, c, m) for m in methods for _ in range(min(pool.jobs, c.settings.tune or 0))]
    todo = unfinished(comparisons)
    if todo:
        print(f'[compare] tuning, {pool.jobs} trial(s) at a time: ' + '; '.join(todo), flush=True)
        pool.map(tasks)


def best_variants(c: Comparison) -> dict[str, Variant]:
    """Each method's setting: the parameters of its best completed trial (validation top-1; the first on a tie)
    among the N that count, as the variant its seed runs train.

    Raises:
        RuntimeError: for a method none of whose counted trials completed.
    """
    from optuna.trial import TrialState
    trials, chosen = c.settings.tune or 0, {}
    for method in c.settings.methods:
        done = [t for t in counted(load_study(c.out, method, trials, c.pretraining.epochs).get_trials(), trials)
                if t.state == TrialState.COMPLETE]
        if not done:
            raise RuntimeError(f'--tune: no trial of {method} completed (all were pruned), so there is no setting to '
                               f'train; rerun in a new --out with more --tune trials')
        best = max(done, key=lambda t: t.value)  # max keeps the first of equal values
        chosen[method] = Variant(overrides(method, best.params), name=TUNED)
    return chosen


def tuning_commands(argv: Sequence[str], comparisons: Sequence[Comparison]) -> list[str]:
    """What ``--print-commands`` prints while the tuning is unfinished: the command that runs it, which several
    processes (a cluster's array job) may run at once on the same ``--out``, and what follows."""
    given = [a for a in argv if a not in ('--print-commands', '--collect', '--tune-only')]
    return ['# tuning, unfinished: ' + '; '.join(unfinished(comparisons)),
            '# run this in as many processes as you like, at once, on the same --out (each runs trials until every '
            'method has its N; a killed one is taken over):',
            'python tools/compare.py ' + shlex.join([*given, '--tune-only']),
            '# then rerun with --print-commands for the seed runs (they train each method\'s best setting), or '
            'without it to run them here']


def tune_step(pool: ToolPool, comparisons: Sequence[Comparison], argv: Sequence[str], print_only: bool,
              collect: bool, tune_only: bool) -> dict[str, dict[str, Variant]] | None:
    """The tuning step of :func:`~mixskd_mm.compare.cli.main`: run the trials still to do (or print the command that
    does, or, with ``collect``, refuse while some are missing) and return each start's chosen variants.

    Args:
        pool: The comparison's tool pool.
        comparisons: One per start.
        argv: The command line as given (``--print-commands`` repeats it).
        print_only: ``--print-commands``.
        collect: ``--collect``: run nothing.
        tune_only: ``--tune-only``: stop once the tuning is done.

    Returns:
        ``{start label: {method: variant}}``, or ``None`` where the comparison stops here (commands printed,
        ``--tune-only`` done).

    Raises:
        RuntimeError: with ``collect``, naming the methods whose tuning is unfinished.
    """
    todo = unfinished(comparisons)
    if todo and print_only:
        print('\n'.join(tuning_commands(argv, comparisons)))
        return None
    if todo and collect:
        raise RuntimeError('the tuning has not finished (' + '; '.join(todo) + '). Run its command (--print-commands) '
                           'or rerun without --collect.')
    if not collect:
        tune_all(pool, comparisons)
    if tune_only:
        print('[compare] tuning done: every method has its trials; rerun without --tune-only for the seed runs',
              flush=True)
        return None
    return {c.start.label: best_variants(c) for c in comparisons}
