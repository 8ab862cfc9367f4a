"""A restricted unpickler for data files that hold plain containers and numpy arrays (the CIFAR python pickles)."""
import importlib
import io
import pickle
from typing import Any, BinaryIO, Callable, Optional

import numpy as np


def _numpy_core_attr(submodule: str, name: str) -> Callable:
    """Return ``numpy._core.<submodule>.<name>`` (numpy 2) or ``numpy.core.<submodule>.<name>`` (numpy 1)."""
    for package in ('numpy._core', 'numpy.core'):
        try:
            return getattr(importlib.import_module(f'{package}.{submodule}'), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f'numpy has no {submodule}.{name}')


def _allowed() -> dict[tuple[str, str], Any]:
    """The only globals a data pickle may reference: numpy array/dtype reconstruction and ``_codecs.encode``.

    ``_codecs.encode`` is how protocol-2 pickles written by Python 3 store ``bytes`` objects (such as the ``b'data'``
    keys); it only encodes a string with a codec and cannot run code.
    """
    import _codecs

    table: dict[tuple[str, str], Any] = {('_codecs', 'encode'): _codecs.encode,
                                         ('numpy', 'ndarray'): np.ndarray, ('numpy', 'dtype'): np.dtype}
    for package in ('numpy.core', 'numpy._core'):
        table[(f'{package}.multiarray', '_reconstruct')] = _numpy_core_attr('multiarray', '_reconstruct')
        table[(f'{package}.multiarray', 'scalar')] = _numpy_core_attr('multiarray', 'scalar')
        table[(f'{package}.numeric', '_frombuffer')] = _numpy_core_attr('numeric', '_frombuffer')
    return table


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only an allow-list of numpy globals, so a crafted file cannot run code.

    Plain containers, numbers, strings and bytes need no globals; anything else (``os.system``, ``builtins.eval``,
    arbitrary classes) raises ``pickle.UnpicklingError`` instead of being imported.

    Example:
        >>> import io, pickle
        >>> RestrictedUnpickler(io.BytesIO(pickle.dumps({b'labels': [1, 2]}, protocol=2))).load()
        {b'labels': [1, 2]}
    """

    _ALLOWED: Optional[dict[tuple[str, str], Any]] = None

    def find_class(self, module: str, name: str) -> Any:
        """Resolve ``module.name`` only when it is on the allow-list.

        Args:
            module: The module named by the pickle.
            name: The attribute named by the pickle.

        Returns:
            The allowed object.

        Raises:
            pickle.UnpicklingError: for every global that is not on the allow-list.
        """
        if RestrictedUnpickler._ALLOWED is None:
            RestrictedUnpickler._ALLOWED = _allowed()
        try:
            return RestrictedUnpickler._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f'Refusing to load global {module}.{name!s}: a data file may only contain '
                                         'containers, numbers, strings and numpy arrays') from None


def restricted_load(file: BinaryIO, encoding: str = 'latin1') -> Any:
    """Load a pickle with :class:`RestrictedUnpickler`.

    Args:
        file: A binary file object.
        encoding: How Python 2 ``str`` objects are decoded; ``'latin1'`` is what numpy needs for Python 2 arrays.

    Returns:
        The unpickled object.

    Example:
        >>> import io, pickle
        >>> restricted_load(io.BytesIO(pickle.dumps([1, 2])))
        [1, 2]
    """
    return RestrictedUnpickler(file, encoding=encoding).load()


def restricted_loads(data: bytes, encoding: str = 'latin1') -> Any:
    """Load a pickle from bytes with :class:`RestrictedUnpickler` (see :func:`restricted_load`).

    Args:
        data: The pickled bytes.
        encoding: How Python 2 ``str`` objects are decoded.

    Returns:
        The unpickled object.

    Example:
        >>> restricted_loads(pickle.dumps({'a': 1}))
        {'a': 1}
    """
    return restricted_load(io.BytesIO(data), encoding=encoding)
