"""Running the project's tools as child processes, a few at a time, each with a log, a progress bar and its cost.

A comparison runs ``tools/train.py`` and ``tools/test.py`` exactly as a user would, from the checkout the package was
imported from (:func:`mixskd_mm.utils.locations.checkout_dir`; the recipes need none). :class:`ToolPool` shares the
machine among them: on GPUs one job per device (``CUDA_VISIBLE_DEVICES``), on a CPU the cores are split into equal
thread counts. A child dies with its parent (``PR_SET_PDEATHSIG`` on Linux), so a comparison that is killed leaves
no training process behind to write into a work directory that the next invocation resumes.
"""
from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, TypeVar

from tqdm import tqdm

from mixskd_mm.utils.locations import PACKAGE_DIR, checkout_dir

#: what a task given to :meth:`ToolPool.map` returns
T = TypeVar('T')

_PROGRESS = re.compile(r'(?:Epoch\(train\)\s*\[(\d+)\])?\s*\[\s*(\d+)/(\d+)\]')


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class ToolResult:
    """What one finished tool process cost.

    Attributes:
        seconds: Wall time.
        max_rss_mib: Peak resident memory of the tool process (not of its data-loader workers), in MiB.
    """

    seconds: float
    max_rss_mib: float


class ToolPool:
    """Runs tool commands as child processes, ``jobs`` at a time.

    Args:
        jobs: How many children run at once.
        gpus: GPU ids; when given, each job slot owns one (``CUDA_VISIBLE_DEVICES``) and ``jobs`` is their number.
        threads: ``OMP_NUM_THREADS`` of every child; default ``cores // jobs`` (more threads per child only contend).
        progress: Draw tqdm bars.
    """

    def __init__(self, jobs: int = 1, gpus: Sequence[str] | None = None, threads: int | None = None,
                 progress: bool = True) -> None:
        self.gpus = list(gpus or [])
        self.jobs = len(self.gpus) or max(1, jobs)
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.jobs)
        self.progress = progress
        self._slots = list(range(self.jobs))
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen] = []

    def env(self, slot: int) -> dict[str, str]:
        """The environment of a child in job slot ``slot``."""
        env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=str(self.threads),
                   MKL_NUM_THREADS=str(self.threads))
        if self.gpus:
            env['CUDA_VISIBLE_DEVICES'] = self.gpus[slot]
        return env

    def run(self, name: str, args: Sequence[str], log_path: str, total: int = 0, per_epoch: int = 0) -> ToolResult:
        """Run ``python ARGS`` from the checkout's root and wait for it.

        Args:
            name: Label of the progress bar.
            args: The tool and its arguments.
            log_path: Where the child's output goes (appended: a resumed run keeps its earlier attempts' output).
            total: Training iterations expected (0: no count).
            per_epoch: Iterations per epoch of an epoch-based run (its log counts within the epoch).

        Returns:
            The run's cost.

        Raises:
            RuntimeError: if the child fails (the message holds its command and the tail of its log), or if
                ``mixskd_mm`` was not imported from a checkout (the tools live there).
        """
        root = checkout_dir()
        if root is None:
            raise RuntimeError(f'python {" ".join(args)}: the tools are in a mixskd_mm checkout, and this mixskd_mm '
                               f'({PACKAGE_DIR}) is installed without one. Run the comparison from a checkout, or run '
                               f'the commands of --print-commands there.')
        with self._lock:
            slot = self._slots.pop(0)
        bar = tqdm(total=total or None, desc=name, position=slot + 1, leave=False, unit='it', dynamic_ncols=True,
                   disable=not self.progress)
        start = time.time()
        try:
            os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
            with open(log_path, 'a') as log:
                log.write('$ python ' + ' '.join(args) + '\n')
                log.flush()
                proc = subprocess.Popen([sys.executable, *args], cwd=root, env=self.env(slot), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent)
                with self._lock:
                    self._procs.append(proc)
                assert proc.stdout is not None  # stdout=PIPE
                for line in proc.stdout:
                    log.write(line)
                    self._advance(bar, line, per_epoch)
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            bar.close()
            with self._lock:
                self._slots.append(slot)
                self._slots.sort()
        if proc.returncode != 0:
            with open(log_path) as f:
                tail = f.read()[-3000:]
            raise RuntimeError(f'python {" ".join(args)} failed with exit code {proc.returncode} (log: {log_path}):'
                               f'\n{tail}')
        return ToolResult(seconds=time.time() - start, max_rss_mib=usage.ru_maxrss / 1024)

    @staticmethod
    def _advance(bar: tqdm, line: str, per_epoch: int) -> None:
        """Move ``bar`` to the iteration an mmengine log line reports."""
        if '(val)' in line:
            bar.set_postfix_str('validating', refresh=False)
        if '(train)' not in line:
            return
        match = _PROGRESS.search(line)
        if match:
            epoch, it = match.group(1), int(match.group(2))
            done = (int(epoch) - 1) * per_epoch + it if epoch and per_epoch else it
            bar.update(max(0, done - bar.n))

    def terminate(self) -> None:
        """Stop the children this pool started that are still running."""
        with self._lock:
            for proc in self._procs:
                if proc.poll() is None:
                    proc.terminate()

    def map(self, tasks: Sequence[Callable[[], T]], overall: tqdm | None = None) -> list[T]:
        """Run independent tasks ``jobs`` at a time, in order; stop every child if one fails.

        Args:
            tasks: Callables that run tools through :meth:`run`.
            overall: A bar advanced once per finished task.

        Returns:
            The tasks' results, in order.
        """
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = [pool.submit(task) for task in tasks]
            if overall is not None:
                for future in futures:
                    future.add_done_callback(lambda _: overall.update(1))
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                self.terminate()
                for f in futures:
                    f.cancel()
                error = failed[0].exception()
                assert error is not None  # failed holds the futures that raised
                raise error
            return [f.result() for f in futures]
