"""The fine-tunes of ``tools/compare.py``: one leaf per task, method and seed, run (or resumed) and read back."""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
from collections.abc import Sequence

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from ..processes import ToolPool
from ..study import last_value, scalars
from .folders import write_folder_leaf
from .user import write_user_leaf

#: ``--det-*`` / ``--seg-*`` flag prefix -> the task's name in the report
TASK_NAMES = {'det': 'detection', 'seg': 'segmentation'}


def plan_transfer(args: argparse.Namespace, chosen: dict[str, dict], results: Sequence[dict]) -> list[dict]:
    """Write one fine-tune config per task, method and seed (the method's chosen setting); return their specs."""
    seeds = args.seeds[:args.transfer_seeds] if args.transfer_seeds else args.seeds
    specs = []
    for flag, task in TASK_NAMES.items():
        config, folder = getattr(args, f'{flag}_config'), getattr(args, f'{flag}_data')
        if not (config or folder):
            continue
        for method, pick in chosen.items():
            for seed in seeds:
                run = next(r for r in results if r['method'] == method and r['seed'] == seed
                           and r['setting'] == pick['setting'])
                name = f'{flag}_{method}_seed{seed}'
                work, leaf = osp.join(args.out, 'transfer', name), osp.join(args.out, 'configs', f'{name}.py')
                os.makedirs(work, exist_ok=True)
                if config:
                    info = write_user_leaf(config, flag, run['backbone'], leaf)
                else:
                    info = write_folder_leaf(folder, flag, run['backbone'], leaf,
                                                iters=getattr(args, f'{flag}_iters'))
                command = ['tools/train.py', leaf, '--work-dir', work]
                options = getattr(args, f'{flag}_options')
                if options:
                    command += ['--cfg-options', *options]
                specs.append(dict(task=task, flag=flag, method=method, seed=seed, work_dir=work, config=leaf,
                                  metric=info['metric'], changes=info.get('changes', []), args=command,
                                  command='python ' + ' '.join(command),
                                  done=osp.isfile(osp.join(work, '.done'))))
    return specs


def transfer_value(spec: dict) -> float | None:
    """The fine-tune's final metric in percent (``None`` when it has not finished)."""
    records = scalars(spec['work_dir'])
    value = last_value(records, spec['metric'])
    if value is None:
        if not spec['done']:
            return None
        value = 0.0  # CocoMetric logs nothing when no box passes the score threshold: an AP of 0
    return value * 100 if spec['metric'].split('/')[0] in ('coco', 'pascal_voc') else value


def fine_tune(pool: ToolPool, spec: dict, log_path: str) -> dict:
    """Run (or resume) one fine-tune, its output going to ``log_path``."""
    name = osp.basename(spec['work_dir'])
    command = list(spec['args'])
    if osp.isfile(osp.join(spec['work_dir'], 'last_checkpoint')):
        command.append('--resume')
    result = pool.run(name, command, log_path)
    atomic_write_bytes(json.dumps(dict(seconds=round(result.seconds, 1), max_rss_mib=round(result.max_rss_mib, 1)))
                       .encode(), osp.join(spec['work_dir'], '.done'))
    spec['done'] = True
    return spec
