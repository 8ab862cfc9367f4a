"""Before the first iteration: backbone/neck channels and model/dataset class counts must agree."""
from __future__ import annotations

from collections.abc import Iterator

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mixskd_mm.registry import HOOKS


def _as_list(value) -> list[int]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def channel_problems(model: nn.Module) -> list[str]:
    """Mismatches between the backbone's ``out_channels`` and what the neck / heads expect."""
    backbone = getattr(model, 'backbone', None)
    out = getattr(backbone, 'out_channels', None)
    if out is None:
        return []
    out = list(out)
    name = getattr(backbone, 'model_name', type(backbone).__name__)
    where = f'backbone {name} with out_indices {list(getattr(backbone, "out_indices", []))}'
    problems = []
    neck = getattr(model, 'neck', None)
    necks = list(neck) if isinstance(neck, nn.Sequential) else [neck]
    if necks[0] is not None and hasattr(necks[0], 'in_channels'):
        want = _as_list(necks[0].in_channels)
        if want != out:
            problems.append(f'model.neck.in_channels={want} but the {where} gives out_channels={out}: '
                            f'set model.neck.in_channels={out}')
    elif neck is None:
        for head_name in ('decode_head', 'auxiliary_head'):
            heads = getattr(model, head_name, None)
            for head in (list(heads) if isinstance(heads, nn.ModuleList) else [heads]):
                if head is None or not hasattr(head, 'in_index'):
                    continue
                idx, want = _as_list(head.in_index), _as_list(head.in_channels)
                got = [out[i] if -len(out) <= i < len(out) else None for i in idx]
                if got != want:
                    fix = got[0] if len(got) == 1 else got
                    problems.append(f'model.{head_name}.in_channels={head.in_channels} (in_index={head.in_index}) '
                                    f'but the {where} gives out_channels={out}: set in_channels={fix}')
    return problems


def _model_num_classes(model: nn.Module) -> Iterator[tuple[str, int]]:
    """(config path, num_classes) of every classification output of a mixskd_mm, mmdet or mmseg model."""
    num_classes = getattr(model, 'num_classes', None)
    if isinstance(num_classes, int):
        yield 'model.num_classes', num_classes
    for path in ('bbox_head', 'roi_head.bbox_head', 'roi_head.mask_head', 'decode_head'):
        obj: object = model
        for part in path.split('.'):
            obj = getattr(obj, part, None)
        for i, head in enumerate(list(obj) if isinstance(obj, nn.ModuleList) else [obj]):
            num_classes = getattr(head, 'num_classes', None)
            if isinstance(num_classes, int):
                yield f'model.{path}' + (f'[{i}]' if isinstance(obj, nn.ModuleList) else '') + '.num_classes', \
                    num_classes


@HOOKS.register_module()
class SanityCheckHook(Hook):
    """Fail fast, with the numbers to use, when a config's parts disagree.

    Checks, before the first training iteration: the neck's (or, without a neck, the decode heads')
    ``in_channels`` against the backbone's ``out_channels``; every head's ``num_classes`` against the
    training dataset's classes. ``tools/train.py`` adds it to every config.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        problems = channel_problems(model)
        dataset = getattr(runner.train_dataloader, 'dataset', None)
        classes: tuple | None = (getattr(dataset, 'metainfo', None) or {}).get('classes')
        if classes:
            for path, num in _model_num_classes(model):
                if num != len(classes):
                    problems.append(f'{path}={num} but the training dataset {type(dataset).__name__} has '
                                    f'{len(classes)} classes ({", ".join(map(str, classes[:4]))}, ...): '
                                    f'set {path}={len(classes)}')
        if problems:
            raise ValueError('the config does not fit together:\n  - ' + '\n  - '.join(problems))
