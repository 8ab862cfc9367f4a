"""Export, above the models: a checkpoint's backbone as a file, timm model folders, model cards, released checkpoints.

- :mod:`.backbone_file`: a checkpoint's backbone as one file (timm keys + the metadata of its
  :class:`~mixskd_mm.weights.record.BackboneRecord`), the one checkpoint reader and metadata writer of the export
  routes (``tools/export_backbone.py``, ``ExportBackboneHook``);
- :mod:`.timm_folder` and :mod:`.model_card`: a timm model folder (``config.json``, ``model.safetensors``, card);
- :mod:`.released`: the authors' released MixSKD checkpoints converted to our backbone file.

Reading and writing weight files and what a backbone file records are the weights io layer beneath the models
(:mod:`mixskd_mm.weights`). Nothing is imported here, so that a tool loads only the route it uses.
"""
