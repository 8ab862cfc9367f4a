"""Where a trained classifier looks: its deployable model (backbone + classifier) and Grad-CAM maps of it.

- :mod:`.deployable`: the deployable model of a training config and its checkpoint (an ``ImageClassifier`` or the
  backbone and classifier of a ``MixSKD`` model, no exits, no self-teacher), or of a timm model folder that
  ``tools/export_backbone.py --format timm`` wrote; with the inputs it was trained on (the config's test pipeline and
  normalisation, or the folder's ``pretrained_cfg``) and its last stage, the layer Grad-CAM reads;
- :mod:`.grad_cam`: Grad-CAM maps of it (the ``grad-cam`` package, ``pytorch_grad_cam.GradCAM``), their peaks and
  overlays.

``tools/vis_cam.py`` draws them for any image; ``tools/compare.py`` draws them for the methods of a comparison.
Nothing is imported here, so that a tool loads only what it uses.
"""
