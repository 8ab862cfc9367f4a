"""The deployable model of a trained classifier, with the inputs it was trained on and its last stage.

Two sources:

- a training config and its checkpoint (``ImageClassifier`` or ``MixSKD``, as ``tools/train.py`` wrote them): the
  backbone and the classifier are rebuilt as a plain :class:`~mixskd_mm.models.classifiers.ImageClassifier` and take
  the checkpoint's ``backbone.*`` and ``head.*`` tensors (every tensor covered, or a loud error); a MixSKD model's
  exits, self-teacher and discriminators are left out, as :meth:`~mixskd_mm.models.classifiers.MixSKD.to_deployable`
  leaves them. Images go through the config's test pipeline (its validation pipeline without a test loader) and
  the model's data preprocessor (RGB, the config's mean and std);
- a timm model folder (``tools/export_backbone.py CKPT DIR --format timm``): plain ``timm.create_model`` of its
  ``architecture`` and ``model_args`` with its ``model.safetensors`` (read by safetensors, nothing unpickled, every
  tensor covered). Images are resized (shorter side to ``input_size / crop_pct``), centre-cropped to
  ``input_size`` and normalised with the folder's ``pretrained_cfg`` mean and std, as timm's evaluation transform
  does.

Grad-CAM reads the last stage: the backbone's last ``out_indices`` stage (its classifier's input), or the last
entry of the timm model's ``feature_info``.
"""
from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

#: the classifiers of this project whose deployable model is backbone + classifier
CLASSIFIERS = ('ImageClassifier', 'MixSKD')
#: backbone options that load weights at build time: the checkpoint's weights replace them anyway
LOADING_OPTIONS = ('pretrained', 'init_cfg')


@dataclass
class Deployable:
    """A classifier ready for inference and Grad-CAM.

    Attributes:
        model: Normalised float images ``(B, 3, H, W)`` -> logits ``(B, C)``, in eval mode.
        target_layer: The module whose output is the last stage's feature map (what Grad-CAM weighs).
        layer_name: Its name in ``model``.
        pipeline: RGB uint8 ``Tensor[3, H, W]`` -> the uint8 image the model sees (resized, cropped).
        preprocessor: A :class:`~mixskd_mm.models.data_preprocessors.ClsDataPreprocessor`: uint8 batch -> model input.
        classes: Class names by index (``None`` where the source names none).
        source: What it was loaded from, for messages and titles.
    """

    model: nn.Module
    target_layer: nn.Module
    layer_name: str
    pipeline: Callable[[torch.Tensor], torch.Tensor]
    preprocessor: nn.Module
    classes: tuple[str, ...] | None
    source: str

    def prepare(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(shown, inputs)``: the uint8 image after the pipeline and the model's ``(1, 3, H, W)`` input of it."""
        shown = self.pipeline(image)
        inputs = self.preprocessor(dict(inputs=[shown], data_samples=None))['inputs']
        return shown, inputs.float()

    def class_name(self, index: int) -> str:
        """The name of class ``index`` (its number where no names are known)."""
        return self.classes[index] if self.classes and 0 <= index < len(self.classes) else str(index)


def load_deployable(source: str, checkpoint: str | None = None) -> Deployable:
    """:func:`from_checkpoint` for a config and a checkpoint, :func:`from_timm_folder` for a folder.

    Raises:
        FileNotFoundError: a file or folder that does not exist.
        ValueError: a config whose model is not one of this project's classifiers; a folder given a checkpoint.
    """
    if os.path.isdir(source):
        if checkpoint is not None:
            raise ValueError(f'{source!r} is a folder (a timm model folder holds its own weights); give a folder '
                             f'alone, or a CONFIG file and its CHECKPOINT')
        return from_timm_folder(source)
    if checkpoint is None:
        raise ValueError(f'{source!r} is not a folder, so it is taken as a config: give its CHECKPOINT after it')
    return from_checkpoint(source, checkpoint)


def _model_config(cfg) -> dict:
    """The config's ``model`` dict, checked to be a classifier of this project (its data preprocessor filled in as
    MMEngine's Runner fills it, from a top-level ``data_preprocessor``)."""
    model = copy.deepcopy(dict(cfg.get('model') or {}))
    kind = str(model.get('type', '')).rpartition('.')[2]
    if kind not in CLASSIFIERS:
        raise ValueError(f'the config\'s model is {model.get("type")!r}, not a classifier of mixskd_mm '
                         f'({" or ".join(CLASSIFIERS)}); Grad-CAM of the deployable model needs a pretraining config '
                         f'(configs/mixskd/ or a run\'s config from tools/compare.py)')
    if 'data_preprocessor' not in model and cfg.get('data_preprocessor'):
        model['data_preprocessor'] = copy.deepcopy(dict(cfg.data_preprocessor))
    return model


def _test_pipeline(cfg, source: str) -> list[dict]:
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset') or {}
        if 'pipeline' in dataset:
            return [dict(step) for step in dataset['pipeline'] or []]
    raise ValueError(f'{source} has no test_dataloader or val_dataloader with a dataset pipeline, so the inputs the '
                     f'model was evaluated on are unknown; use the training config the checkpoint was trained with')


def from_checkpoint(config: str, checkpoint: str, img_size: int | None = None, min_cells: int = 1) -> Deployable:
    """The deployable model of a training config and a checkpoint that ``tools/train.py`` wrote with it.

    Args:
        config: The training config (``.py``).
        checkpoint: The checkpoint (``epoch_N.pth``; read weights-only).
        img_size: The input side, with ``min_cells``: which stage's map is fine enough to show where the model looks.
        min_cells: The cells a side the layer's map should have at ``img_size``: the layer is the deepest of the
            backbone's output stages that has them (the last stage when it has; the first when none has).

    Returns:
        The :class:`Deployable`; its layer is ``backbone.<stage>``, the last stage unless ``min_cells`` chose another.
    """
    from mmengine.config import Config

    import mixskd_mm.models  # noqa: F401  (registers the classifiers, backbones and heads)
    from mixskd_mm.datasets.transforms import build_pipeline
    from mixskd_mm.models.classifiers import ImageClassifier
    from mixskd_mm.models.classifiers.image_classifier import scoped
    from mixskd_mm.weights.files import load_into, read_weights
    if not os.path.isfile(config):
        raise FileNotFoundError(f'config not found: {config!r}')
    cfg = Config.fromfile(config)
    model_cfg = _model_config(cfg)
    backbone = {k: v for k, v in dict(model_cfg['backbone']).items() if k not in LOADING_OPTIONS}
    state, _ = read_weights(checkpoint, what='checkpoint')
    preprocessor = model_cfg.get('data_preprocessor')
    model = ImageClassifier(backbone, model_cfg['num_classes'], data_preprocessor=scoped(preprocessor) if preprocessor
                            else None, head=model_cfg.get('head'))
    load_into(model.backbone, state, source=f'{checkpoint} (backbone)', prefix='backbone.')
    load_into(model.head, state, source=f'{checkpoint} (classifier)', prefix='head.')
    model.eval()
    stage = model.backbone.stage_modules[_stage_index(model.backbone, img_size, min_cells)]
    classes = _dataset_classes(cfg)
    return Deployable(model, model.backbone.get_submodule(stage), f'backbone.{stage}',
                      build_pipeline(_test_pipeline(cfg, config)), model.data_preprocessor, classes,
                      os.path.basename(checkpoint))


def _stage_index(backbone, img_size: int | None, min_cells: int) -> int:
    """The deepest output stage whose map has ``min_cells`` cells a side at ``img_size`` (the first when none has)."""
    indices = list(backbone.out_indices)
    if img_size is None:
        return indices[-1]
    fine = [i for i in indices if -(-img_size // backbone.stage_strides[i]) >= min_cells]
    return fine[-1] if fine else indices[0]


def _dataset_classes(cfg) -> tuple[str, ...] | None:
    """The class names a config's test (or validation) dataset gives, without reading its images: a list, or a
    ``classes.txt``-style file beside its ``data_root``; ``None`` otherwise."""
    for loader in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset') or {}
        classes = dataset.get('classes')
        if isinstance(classes, str):
            path = os.path.join(dataset.get('data_root') or '', classes)
            if os.path.isfile(path):
                with open(path, encoding='utf-8') as f:
                    return tuple(line.strip() for line in f if line.strip())
        elif isinstance(classes, Sequence) and classes:
            return tuple(str(c) for c in classes)
    return None


def _folder_config(folder: str) -> tuple[str, dict]:
    """``(weights file, config.json)`` of a timm model folder, checked by the project's folder reader."""
    from mixskd_mm.weights.timm_sources import CONFIG_NAME, resolve_timm_source
    weights, _ = resolve_timm_source(f'local-dir:{folder}')
    with open(os.path.join(folder, CONFIG_NAME), encoding='utf-8') as f:
        config = json.load(f)
    own = config.get('mixskd_mm') or {}
    if own.get('timm_compatible') is False:
        raise ValueError(f'{folder}: plain timm cannot build this network ('
                         + '; '.join(own.get('not_timm_compatible_because') or []) + '); give the training CONFIG '
                         'and CHECKPOINT the folder was exported from instead')
    if not config.get('num_classes'):
        raise ValueError(f'{folder}: the folder holds no classifier (num_classes {config.get("num_classes")}), so '
                         f'there are no class scores to explain; export it with its classifier (leave out '
                         f'--no-classifier) or give the training CONFIG and CHECKPOINT')
    return weights, config


def _timm_pipeline(pretrained: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    """timm's evaluation transform of a ``pretrained_cfg``: shorter side to ``size / crop_pct``, centre crop."""
    from torchvision.transforms import InterpolationMode, v2
    size = int((pretrained.get('input_size') or [3, 224, 224])[-1])
    crop_pct = float(pretrained.get('crop_pct') or 1.0)
    interpolation = InterpolationMode(str(pretrained.get('interpolation') or 'bilinear'))
    return v2.Compose([v2.Resize(int(size / crop_pct), interpolation=interpolation, antialias=True),
                       v2.CenterCrop(size)])


def from_timm_folder(folder: str) -> Deployable:
    """The deployable model of a timm model folder: plain timm with the folder's weights and inputs.

    Args:
        folder: A folder with ``config.json`` and ``model.safetensors`` (with the trained classifier).

    Returns:
        The :class:`Deployable`; its layer is the last ``feature_info`` module of the timm model.
    """
    import timm

    from mixskd_mm.models.data_preprocessors import ClsDataPreprocessor
    from mixskd_mm.weights.files import load_into, read_weights
    weights, config = _folder_config(folder)
    model = timm.create_model(config['architecture'], pretrained=False, num_classes=config['num_classes'],
                              **(config.get('model_args') or {}))
    state, _ = read_weights(weights)
    load_into(model, state, source=weights, prefix='')
    model.eval()
    pretrained = config.get('pretrained_cfg') or {}
    mean = [255 * m for m in pretrained.get('mean') or (0.0, 0.0, 0.0)]
    std = [255 * s for s in pretrained.get('std') or (1 / 255, 1 / 255, 1 / 255)]
    layer = str(model.feature_info[-1]['module'])  # type: ignore[index]  # timm's models carry a feature_info list
    names = config.get('label_names')
    return Deployable(model, model.get_submodule(layer), layer, _timm_pipeline(pretrained),
                      ClsDataPreprocessor(mean=mean, std=std), tuple(names) if names else None,
                      os.path.basename(os.path.normpath(folder)))
