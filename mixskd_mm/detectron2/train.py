"""Training and evaluation with Detectron2's own trainer, our backbone registered (``tools/d2_train.py``).

A yacs config (``.yaml``) runs through a ``DefaultTrainer`` whose evaluator is ``COCOEvaluator``; a LazyConfig
(``.py``) through Detectron2's ``AMPTrainer`` and hooks, as its ``lazyconfig_train_net.py`` does. A yacs config may
name its base from the installed Detectron2's model zoo as ``_BASE_: "model_zoo:COCO-Detection/....yaml"``
(:func:`resolve_config_file`), so the zoo's files are used, never copied.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import tempfile
from typing import Any

import yaml
from detectron2 import model_zoo
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import CfgNode, LazyConfig, get_cfg, instantiate
from detectron2.engine import (
    AMPTrainer,
    DefaultTrainer,
    SimpleTrainer,
    default_argument_parser,
    default_setup,
    default_writers,
    hooks,
    launch,
)
from detectron2.evaluation import COCOEvaluator, inference_on_dataset, print_csv_format
from detectron2.utils import comm
from detectron2.utils.events import CommonMetricPrinter, JSONWriter

from .config import add_timm_backbone_config
from .pixels import check_lazy_config

#: the ``_BASE_`` prefix that names a file of the installed Detectron2's model zoo
ZOO_PREFIX = 'model_zoo:'
logger = logging.getLogger('mixskd_mm.detectron2')


def resolve_config_file(path: str, made: list[str] | None = None) -> str:
    """``path``, or a resolved copy of it when a ``_BASE_`` of its chain is ``model_zoo:NAME``.

    Detectron2 joins a relative ``_BASE_`` to the config's folder; ``model_zoo:NAME`` is replaced by
    ``detectron2.model_zoo.get_config_file(NAME)`` (an absolute path inside the installed package) in a temporary
    copy. A base that is a file of its own is resolved the same way (so a leaf over a user's config over the zoo
    works); the copies made are appended to ``made`` (the caller removes them), their bases absolute.

    Raises:
        FileNotFoundError: no such config file.
        RuntimeError: the model zoo has no such file (Detectron2's message).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'config file not found: {path!r}')
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f) or {}
    base = data.get('_BASE_') if isinstance(data, dict) else None
    if not isinstance(base, str):
        return path
    if base.startswith(ZOO_PREFIX):
        new = model_zoo.get_config_file(base[len(ZOO_PREFIX):])
    else:
        full = base if base.startswith(('/', 'https://', 'http://')) else os.path.join(os.path.dirname(path), base)
        new = resolve_config_file(full, made)
        if new == full:  # nothing of the chain names the zoo: Detectron2 reads the file as it is
            return path
    data['_BASE_'] = new
    fd, resolved = tempfile.mkstemp(prefix=os.path.basename(path).rsplit('.', 1)[0] + '.', suffix='.yaml')
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        yaml.safe_dump(data, f, sort_keys=False)
    if made is not None:
        made.append(resolved)
    return resolved


def load_yacs_config(path: str, opts: list[str] | None = None) -> CfgNode:
    """Detectron2's defaults, ``MODEL.TIMM`` (:func:`add_timm_backbone_config`), the file, then ``KEY VALUE`` opts."""
    cfg = get_cfg()
    add_timm_backbone_config(cfg)
    made: list[str] = []
    try:
        cfg.merge_from_file(resolve_config_file(path, made))
    finally:
        for copy in made:
            os.remove(copy)
    cfg.merge_from_list(list(opts or []))
    return cfg


def tensorboard_available() -> bool:
    """Whether TensorBoard event files can be written (``tensorboard`` is an optional extra of the repack)."""
    return importlib.util.find_spec('tensorboard') is not None


class Trainer(DefaultTrainer):
    """Detectron2's ``DefaultTrainer`` with ``COCOEvaluator`` and TensorBoard only where it is installed."""

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None) -> COCOEvaluator:
        """``COCOEvaluator`` (boxes, and masks when the model predicts them) on a COCO-format dataset."""
        output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, 'inference', dataset_name)
        return COCOEvaluator(dataset_name, output_dir=output_folder)

    def train(self) -> dict | None:
        """Train; returns the last evaluation's results (Detectron2 does only with ``TEST.EXPECTED_RESULTS``)."""
        results = super().train()
        return results if results is not None else getattr(self, '_last_eval_results', None)

    def build_writers(self) -> list[Any]:
        """The console and ``metrics.json`` writers, and TensorBoard's when available (``OUTPUT_DIR`` made first)."""
        os.makedirs(self.cfg.OUTPUT_DIR, exist_ok=True)
        if tensorboard_available():
            return default_writers(self.cfg.OUTPUT_DIR, self.max_iter)
        return [CommonMetricPrinter(self.max_iter), JSONWriter(os.path.join(self.cfg.OUTPUT_DIR, 'metrics.json'))]


def train_yacs(args: argparse.Namespace) -> dict | None:
    """Train (or with ``--eval-only`` evaluate) a yacs config; returns the evaluation results on the main process."""
    cfg = load_yacs_config(args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    if args.eval_only:
        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        return Trainer.test(cfg, model)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def _lazy_test(cfg: Any, model: Any) -> dict:
    if 'evaluator' not in cfg.dataloader:
        return {}
    results = inference_on_dataset(model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator))
    if comm.is_main_process():
        print_csv_format(results)
    return results


def train_lazy(args: argparse.Namespace, cfg: Any = None) -> dict | None:
    """Train (or evaluate) a LazyConfig as Detectron2's ``lazyconfig_train_net.py`` does, pixel format checked.

    ``cfg``: the config already loaded (``args.config_file`` and ``args.opts`` are then only recorded).
    """
    if cfg is None:
        cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
    default_setup(cfg, args)
    model = instantiate(cfg.model)
    check_lazy_config(cfg, model)
    model.to(cfg.train.device)
    if args.eval_only:
        DetectionCheckpointer(model).load(cfg.train.init_checkpoint)
        return _lazy_test(cfg, model)
    cfg.optimizer.params.model = model
    optim = instantiate(cfg.optimizer)
    from detectron2.engine.defaults import create_ddp_model
    model = create_ddp_model(model, **cfg.train.ddp)
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(model, instantiate(cfg.dataloader.train), optim)
    checkpointer = DetectionCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    writers = [CommonMetricPrinter(cfg.train.max_iter),
               JSONWriter(os.path.join(cfg.train.output_dir, 'metrics.json'))]
    trainer.register_hooks([
        hooks.IterationTimer(),
        hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
        hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer) if comm.is_main_process() else None,
        hooks.EvalHook(cfg.train.eval_period, lambda: _lazy_test(cfg, model)),
        hooks.PeriodicWriter(writers, period=cfg.train.log_period) if comm.is_main_process() else None,
    ])
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    start_iter = trainer.iter + 1 if args.resume and checkpointer.has_checkpoint() else 0
    trainer.train(start_iter, cfg.train.max_iter)
    return _lazy_test(cfg, model)


def main(args: argparse.Namespace) -> dict | None:
    """One process of ``tools/d2_train.py`` (``launch`` runs it once per GPU): a ``.py`` config is a LazyConfig."""
    if args.config_file.endswith('.py'):
        return train_lazy(args)
    return train_yacs(args)


def run(argv: list[str] | None = None) -> None:
    """Parse Detectron2's usual options and run :func:`main` once per GPU through Detectron2's ``launch``."""
    args = default_argument_parser().parse_args(argv)
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
