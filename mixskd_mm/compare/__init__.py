"""``tools/compare.py``: does MixSKD pay off on *your* data? An honest, resumable comparison of pretraining methods
(CE, Mixup, CutMix, MixSKD) on a user's images, with optional detection / segmentation transfer."""
