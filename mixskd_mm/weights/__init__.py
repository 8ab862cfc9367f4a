"""Weights in and out.

- :mod:`.files`: reading weight files (safetensors first, weights-only ``.pth``) and loading them with a loud
  key-coverage report and the stem-option check;
- :mod:`.timm_sources`: ``local-dir:`` / ``hf-hub:`` timm model folders as weight sources;
- :mod:`.export`: a checkpoint's backbone as one file (timm keys + metadata), the one checkpoint reader and
  metadata writer of the export routes;
- :mod:`.timm_folder` and :mod:`.model_card`: a timm model folder (``config.json``, ``model.safetensors``, card);
- :mod:`.released`: the authors' released MixSKD checkpoints converted to our backbone file.

Nothing is imported here, so that the backbone can use :mod:`.files` without loading the export code.
"""
