"""Weights io, beneath the models: reading and writing weight files and what a backbone file records.

- :mod:`.record`: :class:`~.record.BackboneRecord`, what a backbone file records about its network (model name,
  ``out_indices``, stem options, ``in_chans``...), read from and written to its string metadata here only;
- :mod:`.files`: reading weight files (safetensors first, weights-only ``.pth``) and loading them with a loud
  key-coverage report and the stem-option check;
- :mod:`.file_checks`: telling a user's file from a weight file, and naming it when it is not one;
- :mod:`.timm_sources`: ``local-dir:`` / ``hf-hub:`` timm model folders as weight sources.

This layer imports nothing of the package above :mod:`mixskd_mm.utils` / :mod:`mixskd_mm.compat`
(tests/test_layers.py checks it). What needs a model (a checkpoint's backbone as a file, timm folders, model cards,
released checkpoints) is :mod:`mixskd_mm.export`, above the models. Nothing is imported here.
"""
