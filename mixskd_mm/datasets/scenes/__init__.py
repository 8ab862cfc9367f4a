"""Detection and segmentation scenes composed from held-out Fashion-MNIST objects on scikit-image photos.

The demo's transfer data (``tools/demo.py``): :func:`write_composed_dataset` writes a COCO-format folder and an
mmseg-layout folder of the same scenes, which ``tools/compare.py --det-data / --seg-data`` fine-tune on. It reads
Fashion-MNIST through :class:`~mixskd_mm.datasets.FashionMNIST` and leaves out the pretraining subset with the public
:func:`mixskd_mm.datasets.sampling.balanced_subset`. Not imported by :mod:`mixskd_mm.datasets` (it needs
scikit-image for the photos and pycocotools for the masks). The fine-tuned models' predictions on these scenes are
drawn by :mod:`mixskd_mm.compare.transfer.predictions`.
"""
from .compose import DEFAULT_CLASS_IDS, heldout_indices, split_pool, write_composed_dataset
from .painting import BACKGROUNDS, Box, Scene, compose_scene, compose_scenes, load_backgrounds, mask_box
from .writers import coco_dict, label_map, write_split

__all__ = ['BACKGROUNDS', 'Box', 'DEFAULT_CLASS_IDS', 'Scene', 'coco_dict', 'compose_scene', 'compose_scenes',
           'heldout_indices', 'label_map', 'load_backgrounds', 'mask_box', 'split_pool', 'write_composed_dataset',
           'write_split']
