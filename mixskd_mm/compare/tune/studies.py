"""The tuning's studies in the output folder: one Optuna study per method in ``OUT/tune/journal.log``, a journal that
several processes may share (on one machine, or on the shared disk of a cluster), and who runs which trial.

A worker claims a trial under a file lock (:func:`claim`): a trial left running by a worker that is gone first
(resumed where its run stopped), else a new one while fewer than N trials are finished or running. A worker records
itself as the trial's ``owner`` and beats a heartbeat file while the trial runs; a trial is taken over when its owner
on this machine is dead, or, from another machine, when its heartbeat is older than :data:`STALE_AFTER`.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import os.path as osp
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from mixskd_mm.engine.hooks.optuna_pruning_hook import open_journal

from .spaces import defaults, distributions, pruner_settings, sampler_settings

#: a trial's heartbeat file is touched this often (seconds) while it runs
HEARTBEAT_SECONDS = 30.0
#: a trial whose worker runs elsewhere is taken over when its heartbeat is older than this (seconds)
STALE_AFTER = 600.0


def tune_dir(out: str) -> str:
    """``OUT/tune``: the journal, the trials' configs, work directories and logs."""
    return osp.join(out, 'tune')


def journal_path(out: str) -> str:
    return osp.join(tune_dir(out), 'journal.log')


def load_study(out: str, method: str, trials: int, epochs: int):
    """``method``'s study (created on first use), maximising validation top-1, with the pruner of
    :func:`~.spaces.pruner_settings` and a sampler seeded for the next trial (:func:`~.spaces.sampler_settings`)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.makedirs(tune_dir(out), exist_ok=True)
    study = optuna.create_study(study_name=method, storage=open_journal(journal_path(out)), direction='maximize',
                                pruner=optuna.pruners.MedianPruner(**pruner_settings(trials, epochs)),
                                load_if_exists=True)
    asked = len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(**sampler_settings(method, trials, asked))
    return study


def finished_states() -> tuple:
    """The states that count as one of the N trials: ``COMPLETE`` and ``PRUNED``."""
    from optuna.trial import TrialState
    return (TrialState.COMPLETE, TrialState.PRUNED)


def counted(trials: list, n: int) -> list:
    """The N trials that count: the first ``n`` finished, by number (workers racing on a disk without locks may
    finish a few more; they are kept in the journal and left out everywhere)."""
    done = finished_states()
    return sorted((t for t in trials if t.state in done), key=lambda t: t.number)[:n]


@dataclass(frozen=True)
class Claim:
    """A trial this worker is to run.

    Attributes:
        method: The method (the study's name).
        number: The trial's number in its study.
        params: Its parameters.
        resumed: Whether it was left running by a worker that is gone (its run resumes from its checkpoint).
    """

    method: str
    number: int
    params: dict
    resumed: bool


def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, from ``/proc``), ``None`` where unknown."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rpartition(')')[2].split()[19]
    except (OSError, IndexError):
        return None


def owner() -> dict:
    """This worker: host, process id and the process's start time (a reused id is another process)."""
    return dict(host=socket.gethostname(), pid=os.getpid(), start=_start_time(os.getpid()))


def heartbeat_path(out: str, method: str, number: int) -> str:
    return osp.join(tune_dir(out), 'heartbeats', f'{method}_trial{number}')


def is_stale(out: str, method: str, trial) -> bool:
    """Whether a running trial's worker is gone: dead on this host, or silent for :data:`STALE_AFTER` elsewhere."""
    who, me = trial.user_attrs.get('owner') or {}, owner()
    if who.get('host') == me['host']:
        if who.get('pid') == me['pid'] and who.get('start') == me['start']:
            return False  # another thread of this worker runs it
        start = _start_time(int(who.get('pid', -1)))
        return start is None or start != who.get('start')
    beat = heartbeat_path(out, method, trial.number)
    return not osp.exists(beat) or time.time() - osp.getmtime(beat) > STALE_AFTER


@contextlib.contextmanager
def locked(out: str, method: str) -> Iterator[None]:
    """Hold ``OUT/tune/METHOD.lock`` (``flock``): one claim at a time across threads, processes and hosts."""
    os.makedirs(tune_dir(out), exist_ok=True)
    with open(osp.join(tune_dir(out), f'{method}.lock'), 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def claim(out: str, method: str, trials: int, epochs: int, lr: float) -> Claim | None:
    """The next trial of ``method`` for this worker, or ``None`` when N trials are finished or running. A study's
    first trial is the method's defaults (:func:`~.spaces.defaults`); the sampler proposes the others.

    Args:
        out: The comparison folder.
        method: The method.
        trials: N, the trials per method.
        epochs: The comparison's epochs.
        lr: The comparison's learning rate (the centre of the learning-rate range).
    """
    from optuna.trial import TrialState
    with locked(out, method):
        study = load_study(out, method, trials, epochs)
        every = study.get_trials(deepcopy=False)
        running = [t for t in every if t.state == TrialState.RUNNING]
        for t in running:
            if is_stale(out, method, t):
                set_user_attr(out, method, t.number, 'owner', owner())
                beat(out, method, t.number)  # before the lock opens: no other worker may see it silent
                return Claim(method, t.number, dict(t.params), True)
        if len(counted(every, trials)) + len(running) >= trials:
            return None
        if not every:  # the first trial is the method's own setting
            study.enqueue_trial(defaults(method, lr))
        trial = study.ask(distributions(method, lr))
        trial.set_user_attr('owner', owner())
        beat(out, method, trial.number)
        return Claim(method, trial.number, dict(trial.params), False)


def set_user_attr(out: str, method: str, number: int, key: str, value: object) -> None:
    """Set a user attribute of trial ``number`` of ``method``'s study, from any process (Optuna's storage API)."""
    storage = open_journal(journal_path(out))
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(method), number)
    storage.set_trial_user_attr(trial_id, key, value)


def beat(out: str, method: str, number: int) -> None:
    """Touch the trial's heartbeat file (created if missing)."""
    path = heartbeat_path(out, method, number)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'a'):
        os.utime(path)


@contextlib.contextmanager
def heartbeat(out: str, method: str, number: int) -> Iterator[None]:
    """Touch the trial's heartbeat file now and every :data:`HEARTBEAT_SECONDS` while the block runs."""
    beat(out, method, number)
    stop = threading.Event()

    def beating() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            beat(out, method, number)

    thread = threading.Thread(target=beating, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
