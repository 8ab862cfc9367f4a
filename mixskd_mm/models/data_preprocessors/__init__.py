"""Data preprocessors: importing this package registers them in ``mixskd_mm.registry.MODELS``."""
from .cls_data_preprocessor import ClsDataPreprocessor

__all__ = ['ClsDataPreprocessor']
