"""Models: importing this package registers every model component in ``mixskd_mm.registry.MODELS``."""
from . import backbones, classifiers, data_preprocessors, exits, heads, losses  # noqa: F401
