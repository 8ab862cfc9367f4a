"""Fixes to the stack, one module per fix, named as in the README section "Fixes to the stack".

- :mod:`.weights_only`: mmengine 0.10.7 on torch >= 2.6 (``torch.load`` defaults to ``weights_only=True``);
  allow-lists exactly what mmengine's own checkpoints hold.
- :mod:`.atomic_writes`: mmengine's local file writes (checkpoints, ``last_checkpoint``) become atomic.
- :mod:`.cpu_distributed`: distributed runs without CUDA (gloo, ``device_ids=None``); applied when a Runner is built by
  our tools, not at import.

``import mixskd_mm`` applies the fixes of :data:`ON_IMPORT` for the whole process, however the package is imported:
by a script, by ``custom_imports``, or by MMEngine's registry when a config names ``type='mixskd_mm.X'``. They stay on
import so that MMDetection's and MMSegmentation's own ``tools/train.py`` load and resume our checkpoints (README,
"Fixes to the stack", says why). The environment variable :data:`SWITCH` turns them off before the import:
``MIXSKD_MM_NO_PATCHES=1`` (or ``all``) applies none, ``MIXSKD_MM_NO_PATCHES=atomic_writes`` (comma-separated names)
leaves those out. At run time :func:`apply` and :func:`undo` take names too, and :func:`applied` says which are on.
Each fix is idempotent and can be undone. The version pins of the README section (setuptools, ftfy, regex) live in
requirements.txt.

Example:
    >>> from mixskd_mm import compat
    >>> compat.undo('atomic_writes')
    ('weights_only',)
    >>> compat.apply()
    ('weights_only', 'atomic_writes')
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from . import atomic_writes, weights_only

#: the fixes ``import mixskd_mm`` applies, by name, in the order they are applied
ON_IMPORT: dict[str, ModuleType] = {'weights_only': weights_only, 'atomic_writes': atomic_writes}
#: the environment variable that turns fixes off before ``import mixskd_mm``
SWITCH = 'MIXSKD_MM_NO_PATCHES'
_ALL = ('1', 'all', 'true', 'yes')
_NONE = ('', '0', 'false', 'no')
_logged = False


def _names(names: str | Iterable[str] | None) -> tuple[str, ...]:
    """``None``: every fix of :data:`ON_IMPORT`; else the names given, checked."""
    if names is None:
        return tuple(ON_IMPORT)
    chosen = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in chosen if n not in ON_IMPORT]
    if unknown:
        raise ValueError(f'unknown fix {", ".join(map(repr, unknown))}: the fixes are {", ".join(ON_IMPORT)}')
    return chosen


def switched_off(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The fixes :data:`SWITCH` turns off: all for ``1``/``all``, none when unset or ``0``, else the names listed.

    Raises:
        ValueError: a name that is no fix (so that a typo does not leave a fix on silently).
    """
    value = (os.environ if environ is None else environ).get(SWITCH, '').strip()
    if value.lower() in _NONE:
        return ()
    if value.lower() in _ALL:
        return tuple(ON_IMPORT)
    try:
        return _names([n.strip() for n in value.split(',') if n.strip()])
    except ValueError as err:
        raise ValueError(f'{SWITCH}={value!r}: {err}; or 1 to turn all off') from None


def apply(names: str | Iterable[str] | None = None) -> tuple[str, ...]:
    """Apply the named fixes (default: all of :data:`ON_IMPORT`); one applied already is left as it is.

    Returns:
        The names of the fixes applied now, :func:`applied`.
    """
    for name in _names(names):
        ON_IMPORT[name].apply()
    return applied()


def undo(names: str | Iterable[str] | None = None) -> tuple[str, ...]:
    """Undo the named fixes (default: all): MMEngine's methods and torch's allow-list as they were without them.

    Returns:
        The names of the fixes still applied, :func:`applied`.
    """
    for name in _names(names):
        ON_IMPORT[name].undo()
    return applied()


def applied() -> tuple[str, ...]:
    """The names of the fixes of :data:`ON_IMPORT` applied now."""
    return tuple(name for name, fix in ON_IMPORT.items() if fix.is_applied())


def summary() -> str:
    """One line: which fixes are on, which off, and how to turn them off."""
    on = applied()
    off = [n for n in ON_IMPORT if n not in on]
    return (f'mixskd_mm fixes to the stack: {", ".join(on) or "none"} applied'
            + (f', {", ".join(off)} off' if off else '') + f' ({SWITCH}=1 before the import turns them off)')


def log_applied(logger: Any = None) -> None:
    """Log :func:`summary` once per process: to ``logger``, else to MMEngine's current logger when one exists (a
    Runner that imported the package while building its model: MMDetection's and MMSegmentation's own tools),
    else to Python's ``mixskd_mm`` logger (silent unless configured), which does not count as the one time."""
    global _logged
    if _logged:
        return
    if logger is None:
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance() if getattr(MMLogger, '_instance_dict', None) else None
    if logger is None:
        logging.getLogger('mixskd_mm').info(summary())
        return
    logger.info(summary())
    _logged = True


def apply_on_import() -> None:
    """What ``import mixskd_mm`` runs: the fixes of :data:`ON_IMPORT` less those :data:`SWITCH` turns off, logged."""
    off = switched_off()
    apply([n for n in ON_IMPORT if n not in off])
    log_applied()
