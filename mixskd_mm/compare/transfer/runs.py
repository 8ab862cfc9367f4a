"""The fine-tunes of ``tools/compare.py``: one leaf per task, method and seed, run (or resumed) and read back."""
from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from ..logs import last_value, scalars
from ..processes import ToolPool
from ..study import RunKey
from .common import BACKENDS, Backend, Task
from .d2 import config_kind, metrics, write_d2_leaf
from .folders import write_folder_leaf
from .user import write_user_leaf

if TYPE_CHECKING:
    from ..plan import Comparison, TransferSource
    from ..results import Choice, RunResult


@dataclass(frozen=True)
class FineTune:
    """One fine-tune: a task trained from one pretraining run's backbone.

    Attributes:
        task: The task.
        backbone: The key of the pretraining run whose backbone it starts from.
        work_dir: Its work directory (``out/transfer/NAME``).
        config: Its leaf (``out/configs/NAME.py``).
        metric: The key its validation logs the compared number under.
        changes: What the leaf changed in the user's config (empty for our recipes).
        args: The tool's arguments (``tools/train.py`` or ``tools/d2_train.py``).
        backend: The library it trains with (the tool, the metric's label and unit).
    """

    task: Task
    backbone: RunKey
    work_dir: str
    config: str
    metric: str
    changes: tuple[str, ...]
    args: tuple[str, ...]
    backend: Backend = BACKENDS['mmengine']

    @property
    def metric_label(self) -> str:
        """The metric as the report names it (``'Detectron2 bbox/AP'``, ``'coco/bbox_mAP'``)."""
        return self.backend.label + self.metric

    @property
    def name(self) -> str:
        return osp.basename(self.work_dir)

    @property
    def command(self) -> str:
        return 'python ' + ' '.join(self.args)

    @property
    def done(self) -> bool:
        """Whether a run of it ended (the comparison writes ``.done`` then)."""
        return osp.isfile(osp.join(self.work_dir, '.done'))


@dataclass(frozen=True)
class TransferResult:
    """A finished fine-tune and its metric in percent."""

    fine_tune: FineTune
    value: float

    def as_json(self) -> dict:
        """The fine-tune's entry of ``results.json``'s ``transfers``."""
        f = self.fine_tune
        return dict(task=f.task.name, flag=f.task.key, method=f.backbone.method, seed=f.backbone.seed,
                    work_dir=f.work_dir, config=f.config, metric=f.metric_label, backend=f.backend.key,
                    changes=list(f.changes), command=f.command, done=f.done, value=self.value)


def plan_transfer(comparison: Comparison, chosen: Mapping[str, Choice],
                  results: Mapping[RunKey, RunResult]) -> list[FineTune]:
    """Write one fine-tune leaf per task, method and seed (the method's chosen variant); return the fine-tunes.

    Args:
        comparison: The comparison (its transfer tasks and seeds, and its folder).
        chosen: Each method's chosen sweep variant.
        results: The pretraining runs' results by key.
    """
    return [_plan_one(comparison.out, source, results[RunKey(method, choice.variant, seed)].run.backbone,
                      RunKey(method, choice.variant, seed))
            for source in comparison.settings.transfers if source.given
            for method, choice in chosen.items() for seed in comparison.transfer_seeds]


def _plan_one(out: str, source: TransferSource, backbone_file: str, backbone: RunKey) -> FineTune:
    """Write the leaf of one fine-tune (over the user's mmdet / mmseg / Detectron2 config, or our recipe on the data
    folder)."""
    key = source.task.key
    name = f'{key}_{backbone.method}_seed{backbone.seed}'
    work, leaf = osp.join(out, 'transfer', name), osp.join(out, 'configs', f'{name}.py')
    os.makedirs(work, exist_ok=True)
    kind = config_kind(source.config) if source.config and key == 'det' else None
    if kind is not None:
        assert source.config is not None
        leaf = leaf[:-3] + ('.yaml' if kind == 'yacs' else '.py')
        info = write_d2_leaf(source.config, backbone_file, leaf, work, source.options)
        return FineTune(source.task, backbone, work, leaf, info['metric'], tuple(info['changes']),
                        tuple(info['args']), BACKENDS['detectron2'])
    if source.config:
        info = write_user_leaf(source.config, key, backbone_file, leaf)
    else:
        assert source.folder is not None
        info = write_folder_leaf(source.folder, key, backbone_file, leaf, iters=source.iters)
    args = ['tools/train.py', leaf, '--work-dir', work] + (['--cfg-options', *source.options] if source.options else [])
    return FineTune(source.task, backbone, work, leaf, info['metric'], tuple(info.get('changes', [])), tuple(args))


def transfer_value(fine_tune: FineTune) -> float | None:
    """The fine-tune's final metric in percent (``None`` when it has not finished)."""
    detectron2 = fine_tune.backend.key == 'detectron2'
    records = metrics(fine_tune.work_dir) if detectron2 else scalars(fine_tune.work_dir)
    value = last_value(records, fine_tune.metric)
    if value is None:
        if not fine_tune.done:
            return None
        value = 0.0  # CocoMetric / COCOEvaluator log nothing when no box passes the score threshold: an AP of 0
    return value * fine_tune.backend.scale(fine_tune.task)


def read_transfers(fine_tunes: Sequence[FineTune]) -> list[TransferResult]:
    """Every fine-tune's result.

    Raises:
        RuntimeError: naming the first that has not finished, with its command.
    """
    out = []
    for fine_tune in fine_tunes:
        value = transfer_value(fine_tune)
        if value is None:
            raise RuntimeError(f'fine-tune {fine_tune.work_dir} has not finished: {fine_tune.command}')
        out.append(TransferResult(fine_tune, value))
    return out


def fine_tune(pool: ToolPool, fine_tune: FineTune, log_path: str) -> FineTune:
    """Run (or resume) one fine-tune, its output going to ``log_path``."""
    command = list(fine_tune.args)
    if osp.isfile(osp.join(fine_tune.work_dir, 'last_checkpoint')):  # mmengine and Detectron2 both write it
        # Detectron2's trailing KEY VALUE options take the rest of its command line: --resume goes before them
        command.insert(1 if fine_tune.backend.key == 'detectron2' else len(command), '--resume')
    result = pool.run(fine_tune.name, command, log_path)
    atomic_write_bytes(json.dumps(dict(seconds=round(result.seconds, 1), max_rss_mib=round(result.max_rss_mib, 1)))
                       .encode(), osp.join(fine_tune.work_dir, '.done'))
    return fine_tune
