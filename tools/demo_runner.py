"""How tools/demo.py runs the project's tools: child processes a few at a time, each with a progress bar and a log."""
from __future__ import annotations

import os
import os.path as osp
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Callable, Dict, List, Sequence

from tqdm import tqdm

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
_PROGRESS = re.compile(r'(?:Epoch\(train\)\s*\[(\d+)\])?\s*\[\s*(\d+)/(\d+)\]')


class Runner:
    """Runs tool commands as child processes, a few at a time, each with its own progress bar and log file.

    Args:
        jobs: How many children run at once.
        threads: ``OMP_NUM_THREADS`` of every child (one per core and job: several threads per child only contend).
    """

    def __init__(self, jobs: int, threads: int) -> None:
        self.jobs, self.threads = jobs, threads
        self._slots = list(range(1, jobs + 1))
        self._lock = threading.Lock()
        self._procs: List[subprocess.Popen] = []

    def run(self, name: str, args: Sequence[str], log_path: str, total: int = 0, per_epoch: int = 0) -> float:
        """Run ``python ARGS`` from the repository root, parse its iterations into a bar; return the wall seconds.

        Args:
            name: Label of the bar.
            args: The tool and its arguments.
            log_path: Where the child's output goes.
            total: Training iterations expected (0: no count).
            per_epoch: Iterations per epoch of an epoch-based run (its log counts within the epoch).

        Raises:
            RuntimeError: if the child fails; the message holds its command and the tail of its log.
        """
        env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS=str(self.threads),
                   MKL_NUM_THREADS=str(self.threads))
        with self._lock:
            slot = self._slots.pop(0)
        bar = tqdm(total=total or None, desc=name, position=slot, leave=False, unit='it', dynamic_ncols=True)
        start = time.time()
        try:
            with open(log_path, 'w') as log:
                log.write('$ python ' + ' '.join(args) + '\n')
                proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
                with self._lock:
                    self._procs.append(proc)
                for line in proc.stdout:
                    log.write(line)
                    self._advance(bar, line, per_epoch)
                code = proc.wait()
        finally:
            bar.close()
            with self._lock:
                self._slots.append(slot)
                self._slots.sort()
        if code != 0:
            with open(log_path) as f:
                tail = f.read()[-3000:]
            raise RuntimeError(f'{" ".join(args)} failed with exit code {code} (log: {log_path}):\n{tail}')
        return time.time() - start

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
        """Stop the children this runner started that are still running."""
        with self._lock:
            for proc in self._procs:
                if proc.poll() is None:
                    proc.terminate()


def run_parallel(tasks: Sequence[Callable[[], Dict]], jobs: int, overall: tqdm, runner: Runner) -> List[Dict]:
    """Run independent tasks ``jobs`` at a time, in order; stop every child if one fails."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(task) for task in tasks]
        for future in futures:
            future.add_done_callback(lambda _: overall.update(1))
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            runner.terminate()
            for f in futures:
                f.cancel()
            raise failed[0].exception()
        return [f.result() for f in futures]
