"""The command lines of ``tools/*.py``, also installed as console scripts (``pyproject.toml``, ``[project.scripts]``).

Each module's ``main(argv)`` does the work and returns what it made (the tests call it in-process); its ``cli(argv)``
is what ``python tools/X.py`` and the console script both run. ``cli`` returns ``None``: a console script exits with
its function's return value as the status.

- ``mixskd-train``: ``tools/train.py``, :mod:`mixskd_mm.cli.train`
- ``mixskd-test``: ``tools/test.py``, :mod:`mixskd_mm.cli.test`
- ``mixskd-compare``: ``tools/compare.py``, :func:`mixskd_mm.compare.cli.cli`
- ``mixskd-export``: ``tools/export_backbone.py``, :mod:`mixskd_mm.cli.export_backbone`
- ``mixskd-convert-released``: ``tools/convert_released_checkpoint.py``,
  :mod:`mixskd_mm.cli.convert_released_checkpoint`
- ``mixskd-demo``: ``tools/demo.py``, :mod:`mixskd_mm.cli.demo`

``mixskd-compare`` and ``mixskd-demo`` start ``tools/train.py`` and ``tools/test.py`` of the checkout the package is
installed from (``pip install -e .``), as ``python tools/compare.py`` does.
"""
