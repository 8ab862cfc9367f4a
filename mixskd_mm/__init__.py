"""mixskd_mm: MixSKD self-knowledge distillation for timm CNNs, as an OpenMMLab plugin."""
__version__ = '0.1.0'
