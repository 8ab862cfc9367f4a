"""Running a comparison's work: the pretraining runs (train, then test once) and the fine-tunes, through a
:class:`~mixskd_mm.compare.processes.ToolPool`, or their commands printed for a scheduler."""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence
from functools import partial

from .configs import Pretraining
from .corrupted import CorruptionEval
from .logs import add_cost
from .plan import Comparison
from .processes import ToolPool
from .study import PretrainRun
from .transfer.runs import FineTune, fine_tune

#: the methods' training cost, most expensive first (runs start in this order so that no long run starts last)
COST_RANK = {'mixskd': 0, 'ce-matched': 1, 'mixup-matched': 1, 'cutmix-matched': 1, 'mixskd-conv': 2, 'cutmix': 3,
             'mixup': 4, 'ce': 5}


def log_path(out: str, name: str) -> str:
    return osp.join(out, 'logs', f'{name}.log')


def pretrain(pool: ToolPool, run: PretrainRun, pretraining: Pretraining, out: str) -> PretrainRun:
    """Train (or resume) one run, then evaluate the test split once; record what each step cost."""
    if not run.trained:
        resume, per_epoch = run.resumable, pretraining.iters_per_epoch
        result = pool.run(f'{run.name}{" (resume)" if resume else ""}', run.train_args(resume), log_path(out, run.name),
                          per_epoch * run.epochs, per_epoch)
        add_cost(run.work_dir, 'train', result.seconds, result.max_rss_mib)
        scores, checkpoint = osp.join(run.work_dir, 'val_scores.npz'), run.checkpoint
        if osp.getmtime(scores) < osp.getmtime(checkpoint):
            raise RuntimeError(f'{run.name}: the final validation did not run after {checkpoint} was written (the '
                               f'run was interrupted during it). Delete {run.work_dir} and rerun to train it again.')
    if not run.tested:
        result = pool.run(f'{run.name} test', run.test_args(), log_path(out, run.name + '_test'))
        add_cost(run.work_dir, 'test', result.seconds, result.max_rss_mib)
    return run


def print_commands(runs: Sequence[PretrainRun], fine_tunes: Sequence[FineTune],
                   evaluations: Sequence[CorruptionEval] = ()) -> None:
    """Print every command (finished ones commented), for a scheduler (see tools/slurm_train.sh); a run's evaluation
    under corruptions (``evaluations``) follows its pretraining runs, once they are finished."""
    for run in runs:
        prefix = '# done: ' if run.finished else ''
        for line in run.command_lines():
            print(prefix + line)
    if evaluations:
        print('# after its run: the evaluation under corruptions')
    for e in evaluations:
        print(('# done: ' if e.done else '') + e.command)
    for f in fine_tunes:
        print(('# done: ' if f.done else '') + f.command)
    if not fine_tunes and runs:
        print('# the fine-tune commands follow once pretraining is finished (they use its chosen backbones)')
    print('# on Slurm: GPUS=1 bash tools/slurm_train.sh PARTITION NAME CONFIG --work-dir DIR for each train command '
          '(srun python tools/test.py ... for the test commands); then rerun with --collect')


def pretrain_all(pool: ToolPool, runs: Sequence[tuple[PretrainRun, Comparison]], collect: bool) -> None:
    """Train the unfinished runs (unless ``collect``), the most expensive methods first; each run with its
    comparison's schedule, its log in its comparison's ``logs/``.

    Raises:
        RuntimeError: naming the runs still unfinished.
    """
    pending = [(r, c) for r, c in runs if not r.finished]
    if pending and not collect:
        print(f'[compare] {len(pending)} of {len(runs)} pretraining runs to do, {pool.jobs} at a time '
              f'({pool.threads} thread(s) each)', flush=True)
        longest_first = sorted(pending, key=lambda rc: COST_RANK.get(rc[0].method, len(COST_RANK)))  # a short tail
        pool.map([partial(pretrain, pool, r, c.pretraining, c.out) for r, c in longest_first])
    several = len({c.start.label for _, c in runs}) > 1
    unfinished = [f'{c.start.label}/{r.name}' if several else r.name for r, c in runs if not r.finished]
    if unfinished:
        raise RuntimeError(f'{len(unfinished)} pretraining run(s) have not finished: {", ".join(unfinished)}. Run '
                           f'their commands (--print-commands), or rerun without --collect.')


def fine_tune_all(pool: ToolPool, fine_tunes: Sequence[tuple[FineTune, str]], collect: bool) -> None:
    """Run the fine-tunes not done yet (unless ``collect``), each logged in its comparison's ``logs/``."""
    todo = [(f, out) for f, out in fine_tunes if not f.done]
    if todo and not collect:
        print(f'[compare] {len(todo)} fine-tune(s) to do', flush=True)
        pool.map([partial(fine_tune, pool, f, log_path(out, f.name)) for f, out in todo])
