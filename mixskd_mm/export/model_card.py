"""The model card (``README.md`` with Hugging Face Hub front matter) of an exported timm folder, written from its run.

Everything in the card comes from the run itself: the recipe from the training config recorded in the
checkpoint, the classes from its ``dataset_meta``, and the metrics from the run's own log
(``WORK_DIR/<timestamp>/vis_data/<timestamp>.json``, written by mmengine's ``LocalVisBackend``): the validation
record of the checkpoint's epoch (or iteration), with the values printed as mmengine's log prints them.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

CITATION = '''@inproceedings{yang2022mixskd,
  title     = {MixSKD: Self-Knowledge Distillation from Mixup for Image Recognition},
  author    = {Yang, Chuanguang and An, Zhulin and Zhou, Helong and Cai, Linhang and Zhi, Xiang and Wu, Jiwen and
               Xu, Yongjun and Zhang, Qian},
  booktitle = {European Conference on Computer Vision (ECCV)},
  year      = {2022},
  eprint    = {2208.05768},
  archivePrefix = {arXiv}
}'''
#: scalars of a validation record that are timings, not metrics
NOT_METRICS = ('data_time', 'time', 'step', 'epoch', 'iter', 'lr')


def _timestamp(experiment_name: str) -> str | None:
    found = re.search(r'(\d{8}_\d{6})$', experiment_name or '')
    return found.group(1) if found else None


def run_metrics(work_dir: str, meta: Mapping[str, str], cfg=None) -> dict[str, float]:
    """The validation metrics of the checkpoint's epoch (``by_epoch`` logs) or iteration, from the run's own log.

    Args:
        work_dir: the run's work dir.
        meta: the checkpoint's ``meta`` in string form (``experiment_name``, ``epoch``, ``iter``).
        cfg: the run's training config (``meta['cfg']`` parsed), whose ``log_processor.by_epoch`` says which; ``None``
            means by epoch, mmengine's default.

    Returns:
        metric name -> value of the last validation record at that step in
        ``work_dir/<timestamp>/vis_data/<timestamp>.json`` (the timestamp ends ``experiment_name``); empty if the
        log or the record is not there.
    """
    stamp = _timestamp(meta.get('experiment_name', ''))
    if not stamp:
        return {}
    path = os.path.join(work_dir, stamp, 'vis_data', f'{stamp}.json')
    if not os.path.isfile(path):
        return {}
    by_epoch = True if cfg is None else cfg.get('log_processor', {}).get('by_epoch', True)
    step = int(meta.get('epoch' if by_epoch else 'iter', -1))
    found: dict[str, float] = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            record = json.loads(line) if line.strip() else {}
            is_val = 'lr' not in record and not any(k.startswith('loss') for k in record)
            if is_val and record.get('step') == step:
                found = {k: float(v) for k, v in record.items()
                         if k not in NOT_METRICS and isinstance(v, (int, float))}
    return found


def _recipe(cfg, meta: Mapping[str, str]) -> list[str]:
    model, bb = cfg.get('model', {}), cfg.get('model', {}).get('backbone', {})
    train = cfg.get('train_cfg', {})
    length = f"{train['max_epochs']} epochs" if 'max_epochs' in train else f"{train.get('max_iters', '?')} iterations"
    loader = cfg.get('train_dataloader', {})
    run = meta.get('experiment_name', '?')
    lines = [f"- config: `{run[:-16] if _timestamp(run) else run}.py` "
             f"(run `{run}`, exported at epoch {meta.get('epoch', '?')}, "
             f"iteration {meta.get('iter', '?')})",
             f'- schedule: {length}, batch {loader.get("batch_size", "?")} images per GPU',
             f"- optimizer: `{cfg.get('optim_wrapper', {}).get('optimizer', {})}`",
             f"- backbone: `{dict(bb)}`"]
    if model.get('type') == 'MixSKD':
        exits = len(bb.get('out_indices', (1, 2, 3, 4)))
        lines.append(f"- MixSKD: alpha {model.get('alpha', 0.4)} (Beta(alpha, alpha) Mixup), {exits} exits "
                     f"({exits - 1} auxiliary, `{model.get('exit_type', 'replicate')}`, removed for deployment)")
    else:
        lines.append(f"- method: `{model.get('type')}` (mix: {model.get('mix')}), no self-distillation")
    return lines


def _data(cfg, meta: Mapping[str, str]) -> list[str]:
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    info = json.loads(meta.get('dataset_meta', '{}'))
    classes = info.get('classes') or []
    extra = {k: v for k, v in info.items() if k != 'classes'}
    return [f"- training set: `{dataset.get('type', '?')}` split `{dataset.get('split', 'train')}` "
            f"({len(classes)} classes){f', {extra}' if extra else ''}",
            f"- classes: {', '.join(map(str, classes[:20]))}{' ...' if len(classes) > 20 else ''}"]


def _front_matter(config: Mapping, method: str) -> str:
    tags = ['image-classification', 'timm', 'mixskd_mm', 'self-knowledge-distillation'] + \
        (['mixskd'] if method == 'MixSKD' else [])
    return '\n'.join(['---', 'library_name: timm', 'pipeline_tag: image-classification',
                      'license: unknown  # FILL IN: the licence of these weights and of their training data',
                      'tags:'] + [f'- {t}' for t in tags] + ['---', ''])


def _compatibility(config: Mapping) -> list[str]:
    own = config['mixskd_mm']
    if own['timm_compatible']:
        return ['Plain timm builds this network: `timm.create_model("hf-hub:ORG/NAME", pretrained=True)` '
                '(or `"local-dir:PATH"`) gives the deployable model of the run, classifier included when '
                '`num_classes` > 0.']
    reasons = [f'- {r}' for r in own['not_timm_compatible_because']]
    load = (f"Load it with mixskd_mm: `{own['load_with']}` (in an mmdet / mmseg config the same `pretrained`, or "
            '`init_cfg=dict(type="Pretrained", checkpoint="local-dir:PATH")`).')
    return ['**Plain timm cannot build this network**, so `timm.create_model(...)` on this folder fails '
            '(it never builds a different network silently):', *reasons, '', load]


def model_card(cfg, meta: Mapping[str, str], config: Mapping, metrics: Mapping[str, float]) -> str:
    """The card's text: front matter, method, recipe, data, metrics from the log, timm compatibility, citation."""
    method = cfg.get('model', {}).get('type', '?')
    arch = config['architecture']
    table = ['| metric | value |', '| --- | --- |'] + [f'| {k} | {v:.4f} |' for k, v in metrics.items()]
    results = table if metrics else ['No validation record of this epoch was found in the run\'s log.']
    parts = [_front_matter(config, method), f'# {arch} trained with {method} (mixskd_mm)', '',
             f'A `{arch}` image classifier from timm, trained with '
             + ('MixSKD self-knowledge distillation from Mixup (Yang et al., ECCV 2022): auxiliary exits and a '
                'self-teacher distil into the network during training and are removed afterwards, so this is a plain '
                f'`{arch}`.' if method == 'MixSKD' else f'`{method}`.'),
             f"Classifier: {config['num_classes'] or 'none (num_classes=0, features only)'}; "
             f"features: {config['num_features']}.", '', '## Recipe', '', *_recipe(cfg, meta), '',
             '## Data', '', *_data(cfg, meta), '', '## Results', '',
             'Validation metrics of the exported epoch, read from the run\'s own log (top-1 / top-5 in %; '
             '`accuracy/top1` is the deployed classifier):', '', *results, '',
             '## Use', '', *_compatibility(config), '', '## Citation', '', '```bibtex', CITATION, '```', '']
    return '\n'.join(parts)
