"""The corrupted copies of a comparison's evaluation split, written once, and each run's one evaluation on them.

:func:`write_corrupted` applies the runs' deterministic test pipeline (resize, centre crop) to the split's images
(all of them, or a seeded subset of ``limit``), corrupts each one with every corruption at every severity
(:mod:`mixskd_mm.datasets.corruptions`, a fixed seed per corruption, severity and image) and saves the results
losslessly, so every method reads the same pixels::

    DATA_DIR/corrupted/S{side}_N{images}/
        CORRUPTION-SEVERITY/NNNNN.png   the corrupted images, at the network's input size
        list.txt                        'CORRUPTION-SEVERITY/NNNNN.png label' lines, set after set
        digests.npz                     each image's digest (mixskd_mm.evaluation.metrics.input_digests)
        manifest.json                   written last: the split, the subset's indices, each set's corruption,
                                        severity, parameter, index range in list.txt and SHA-256 of its digests

Each finished run is then evaluated once more with ``tools/test.py`` on a config beside its own
(``configs/NAME_corrupt.py``) whose test loader reads ``list.txt`` without resizing again, and which writes
``corrupt_scores.npz`` and ``corrupt_inputs.npz`` (the digests of what it read) into the run's work directory.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import os.path as osp
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from .configs import pipelines
from .logs import add_cost
from .processes import ToolPool
from .study import PretrainRun

#: the base seed of the corruptions' random draws (one generator per corruption, severity and image derives from it)
SEED = 0


@dataclass(frozen=True)
class CorruptedData:
    """The corrupted copies of one split at one input size: what ``manifest.json`` holds.

    Attributes:
        folder: Their folder (``DATA_DIR/corrupted/S{side}_N{images}``).
        manifest: The manifest (module docstring).
    """

    folder: str
    manifest: dict

    @property
    def list_file(self) -> str:
        return osp.join(self.folder, 'list.txt')

    @property
    def sets(self) -> list[dict]:
        """``corruption``, ``severity``, ``parameter``, ``start``, ``stop`` and ``sha256`` of each set, in order."""
        return self.manifest['sets']

    @property
    def indices(self) -> list[int]:
        """The positions in the split's list of the images corrupted (all, or the seeded subset)."""
        return self.manifest['indices']


def _subset(count: int, limit: int, seed: int) -> list[int]:
    """All indices, or a seeded sample of ``limit`` of them in their order (``limit`` 0: all)."""
    if not limit or count <= limit:
        return list(range(count))
    return sorted(int(i) for i in np.random.default_rng(seed).permutation(count)[:limit])


def _image_seed(corruption: str, severity: int, index: int) -> int:
    """The seed of one image's random draw: fixed by the corruption, the severity and the image's index."""
    return zlib.crc32(f'{SEED}/{corruption}/{severity}/{index}'.encode())


def write_corrupted(data_dir: str, split: str, img_size: int, limit: int) -> CorruptedData:
    """Write (once) the corrupted copies of ``split`` at ``img_size`` (module docstring); read them back if written.

    Args:
        data_dir: The folder of the data's lists (``classes.txt``, ``{split}.txt``).
        split: The split the comparison reports (``'test'``, or ``'val'`` without a test split).
        img_size: The runs' crop side: the test pipeline of :func:`~mixskd_mm.compare.configs.pipelines` is applied.
        limit: At most this many images (a seeded subset); 0: all.

    Returns:
        The corrupted data.
    """
    from mixskd_mm.datasets.imagenet import ImageNet

    dataset = ImageNet(data_dir, split='', ann_file=f'{split}.txt', classes='classes.txt',
                       pipeline=pipelines(img_size)['test'])
    indices = _subset(len(dataset), limit, SEED)
    folder = osp.join(data_dir, 'corrupted', f'S{img_size}_N{len(indices)}')
    if osp.isfile(osp.join(folder, 'manifest.json')):
        with open(osp.join(folder, 'manifest.json')) as f:
            return CorruptedData(folder, json.load(f))
    clean = [(index, dataset[index]) for index in indices]
    lines: list[str] = []
    digests: list[int] = []
    sets = _write_sets(folder, clean, img_size, lines, digests)
    buffer = io.BytesIO()
    np.savez(buffer, digests=np.array(digests, dtype=np.uint64))
    atomic_write_bytes(buffer.getvalue(), osp.join(folder, 'digests.npz'))
    atomic_write_bytes(''.join(line + '\n' for line in lines).encode(), osp.join(folder, 'list.txt'))
    manifest = dict(split=split, classes=osp.abspath(osp.join(data_dir, 'classes.txt')), img_size=img_size,
                    seed=SEED, limit=limit, images=len(indices), pipeline=pipelines(img_size)['test'],
                    indices=indices, sets=sets)
    atomic_write_bytes(json.dumps(manifest, indent=1).encode(), osp.join(folder, 'manifest.json'))
    return CorruptedData(folder, manifest)


def _write_sets(folder: str, clean: Sequence[tuple[int, dict]], side: int, lines: list[str],
                digests: list[int]) -> list[dict]:
    """Corrupt every image with every corruption at every severity and write the PNGs; ``lines`` and ``digests``
    receive each image's list line and digest. Returns each set's manifest entry (its ``parameter``: ImageNet-C's
    ``c``; for the blur, the sigma in pixels at ``side``)."""
    from torchvision.io import encode_png

    from mixskd_mm.datasets.corruptions import CORRUPTIONS, SEVERITIES, blur_sigma, corrupt, parameter
    from mixskd_mm.evaluation.metrics.input_digests import image_digest
    sets = []
    for corruption in CORRUPTIONS:
        for severity in SEVERITIES:
            name = f'{corruption}-{severity}'
            os.makedirs(osp.join(folder, name), exist_ok=True)
            start = len(lines)
            for index, item in clean:
                image = corrupt(item['inputs'], corruption, severity, _image_seed(corruption, severity, index))
                # a plain write: the manifest, written last and atomically, says the folder is complete
                with open(osp.join(folder, name, f'{index:05d}.png'), 'wb') as f:
                    f.write(encode_png(image).numpy().tobytes())
                lines.append(f'{name}/{index:05d}.png {item["data_samples"]}')
                digests.append(image_digest(image))
            block = np.array(digests[start:], dtype=np.uint64)
            value = round(blur_sigma(severity, side), 3) if corruption == 'gaussian_blur' else \
                parameter(corruption, severity)
            sets.append(dict(corruption=corruption, severity=severity, parameter=value,
                             start=start, stop=len(lines), sha256=hashlib.sha256(block.tobytes()).hexdigest()))
    return sets


@dataclass(frozen=True)
class CorruptionEval:
    """One run's evaluation on the corrupted data (one ``tools/test.py`` process).

    Attributes:
        run: The pretraining run.
        data: The corrupted data it reads.
    """

    run: PretrainRun
    data: CorruptedData

    @property
    def name(self) -> str:
        return f'{self.run.name}_corrupt'

    @property
    def config(self) -> str:
        """``OUT/configs/NAME_corrupt.py``, beside the run's own config."""
        return osp.join(osp.dirname(self.run.config), f'{self.name}.py')

    @property
    def scores(self) -> str:
        return osp.join(self.run.work_dir, 'corrupt_scores.npz')

    @property
    def digests(self) -> str:
        return osp.join(self.run.work_dir, 'corrupt_inputs.npz')

    @property
    def done(self) -> bool:
        return osp.isfile(self.scores) and osp.isfile(self.digests)

    def args(self) -> list[str]:
        """``tools/test.py`` arguments: the final checkpoint on the corrupted data."""
        return ['tools/test.py', self.config, self.run.checkpoint, '--work-dir', osp.join(self.run.work_dir, 'corrupt')]

    @property
    def command(self) -> str:
        return ' '.join(['python', *self.args()])


def eval_config(run: PretrainRun, data: CorruptedData, scores: str, digests: str) -> str:
    """The text of a run's corruption config: its own config, whose test loader reads the corrupted list with no
    resize (the images are at the input size already) and writes the scores and the inputs' digests."""
    from mmengine.config import Config
    cfg = Config.fromfile(run.config)
    loader = copy.deepcopy(cfg.val_dataloader.to_dict())
    loader['dataset'] = dict(loader['dataset'], data_root=data.folder, split='', ann_file='list.txt',
                             classes=data.manifest['classes'], pipeline=[])
    topk = next(m['topk'] for m in cfg.val_evaluator if m['type'] == 'MultiExitAccuracy')
    cfg.merge_from_dict(dict(test_dataloader=loader, test_cfg=dict(), test_evaluator=[
        dict(type='MultiExitAccuracy', topk=topk), dict(type='ClassificationScores', out_file=scores),
        dict(type='InputDigests', out_file=digests)]))
    return cfg.pretty_text


def plan_evaluations(runs: Sequence[PretrainRun], data: CorruptedData) -> list[CorruptionEval]:
    """Every run's evaluation on ``data``, each config written once (a rerun keeps it)."""
    evals = [CorruptionEval(run, data) for run in runs]
    for e in evals:
        if not osp.isfile(e.config):
            atomic_write_bytes(eval_config(e.run, data, e.scores, e.digests).encode(), e.config)
    return evals


def evaluate(pool: ToolPool, evaluation: CorruptionEval, log: str) -> CorruptionEval:
    """Run one evaluation; its wall time goes to the run's ``cost.json`` as ``corrupt_seconds``."""
    result = pool.run(f'{evaluation.run.name} corruptions', evaluation.args(), log)
    add_cost(evaluation.run.work_dir, 'corrupt', result.seconds, result.max_rss_mib)
    return evaluation


def evaluate_all(pool: ToolPool, evaluations: Sequence[tuple[CorruptionEval, str]], collect: bool) -> None:
    """Run the evaluations not done yet (unless ``collect``), each logged in its comparison's ``logs/``.

    Args:
        pool: Runs the tools.
        evaluations: ``(evaluation, comparison folder)`` pairs.
        collect: Only check that they are done.

    Raises:
        RuntimeError: naming the evaluations still missing.
    """
    todo = [(e, out) for e, out in evaluations if not e.done]
    if todo and not collect:
        print(f'[compare] {len(todo)} evaluation(s) under corruptions to do', flush=True)
        pool.map([partial(evaluate, pool, e, osp.join(out, 'logs', f'{e.name}.log')) for e, out in todo])
    missing = [e.name for e, _ in evaluations if not e.done]
    if missing:
        raise RuntimeError(f'{len(missing)} evaluation(s) under corruptions have not run: {", ".join(missing)}. Run '
                           f'their commands (--print-commands), rerun without --collect, or leave them out with '
                           f'--no-robustness.')
