"""Datasets (CIFAR-100, ImageNet, embedded real data) and their transforms."""
