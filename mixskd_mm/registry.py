"""Registries of mixskd_mm: children of MMEngine's root registries under the scope ``mixskd_mm``.

Modules register lazily: a registry imports its ``locations`` the first time it is searched, so
``type='mixskd_mm.TimmStageBackbone'`` works from an mmdet or mmseg config without
``custom_imports`` (MMEngine imports ``mixskd_mm.registry`` when it meets the scope prefix).
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry

_SCOPE = 'mixskd_mm'


def _child(name: str, parent: Registry, locations: list) -> Registry:
    return Registry(name, parent=parent, scope=_SCOPE, locations=locations)


MODELS = _child('model', MMENGINE_MODELS, ['mixskd_mm.models'])
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS, ['mixskd_mm.models'])
DATASETS = _child('dataset', MMENGINE_DATASETS, ['mixskd_mm.datasets'])
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, ['mixskd_mm.datasets'])
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, ['mixskd_mm.datasets'])
METRICS = _child('metric', MMENGINE_METRICS, ['mixskd_mm.evaluation'])
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, ['mixskd_mm.evaluation'])
HOOKS = _child('hook', MMENGINE_HOOKS, ['mixskd_mm.engine'])
LOOPS = _child('loop', MMENGINE_LOOPS, ['mixskd_mm.engine'])
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, ['mixskd_mm.engine'])
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS, ['mixskd_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
                                    ['mixskd_mm.engine'])
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS, ['mixskd_mm.engine'])
RUNNERS = _child('runner', MMENGINE_RUNNERS, ['mixskd_mm.engine'])
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS, ['mixskd_mm.engine'])
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS, ['mixskd_mm.engine'])
