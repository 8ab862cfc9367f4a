"""mixskd_mm: MixSKD self-knowledge distillation for timm backbones, for MMDetection and MMSegmentation.

Exact, tested versions live in requirements.txt (installed by `make setup`). The ranges below are
what the package needs when installed into an environment you manage yourself (torch and mmcv
with ops first, then `pip install -e .`).
"""
from setuptools import find_packages, setup

setup(
    name='mixskd_mm',
    version='0.1.0',
    description='MixSKD (Yang et al., ECCV 2022) for timm backbones, with MMDetection/MMSegmentation transfer',
    packages=find_packages(include=['mixskd_mm', 'mixskd_mm.*']),
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.0',
        'mmcv>=2.0.0,<2.2.0',
        'mmengine>=0.10.0,<1.0',
        'timm>=1.0.10',
        'safetensors>=0.4',
        'numpy',
    ],
    extras_require={
        'transfer': ['mmdet>=3.3.0,<3.4', 'mmsegmentation>=1.2.2,<1.3', 'ftfy', 'regex', 'pycocotools'],
        'demo': ['scikit-image', 'matplotlib', 'tqdm'],
        'tests': ['pytest', 'ruff'],
    },
)
