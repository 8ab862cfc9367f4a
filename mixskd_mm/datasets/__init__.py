"""Datasets (CIFAR-100, ImageNet folders, Fashion-MNIST / MNIST-5k) and their tensor transform pipelines.

Importing this package registers the datasets in ``mixskd_mm.registry.DATASETS``.
"""
from ._base import BaseClsDataset
from .cifar import CIFAR100
from .fashion_mnist import FashionMNIST
from .imagenet import ImageNet
from .sampling import balanced_subset, stratified_split
from .transforms import build_pipeline, build_transform

__all__ = ['BaseClsDataset', 'CIFAR100', 'FashionMNIST', 'ImageNet', 'balanced_subset', 'build_pipeline',
           'build_transform', 'stratified_split']
