"""Read IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed."""
import gzip
import struct

import numpy as np

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, np.dtype] = {0x08: np.dtype('u1'), 0x09: np.dtype('i1'), 0x0B: np.dtype('>i2'),
                                   0x0C: np.dtype('>i4'), 0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file into an array of the shape stored in its header.

    The header is two zero bytes, a type code, the number of dimensions and one big-endian uint32 per dimension;
    the data follows in row-major order. A ``.gz`` suffix means gzip-compressed.

    Args:
        path: The file, for example ``train-images-idx3-ubyte.gz``.

    Returns:
        The array (``uint8`` ``[N, 28, 28]`` for MNIST images, ``uint8`` ``[N]`` for labels).

    Raises:
        ValueError: if the file is not a well-formed IDX file (message names the path).

    Example:
        >>> images = read_idx('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz')  # doctest: +SKIP
        >>> images.shape, images.dtype  # doctest: +SKIP
        ((10000, 28, 28), dtype('uint8'))
    """
    opener = gzip.open if path.endswith('.gz') else open
    try:
        with opener(path, 'rb') as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(f'Cannot read IDX file {path}: {err}') from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f'{path} is not an IDX file (bad magic number {raw[:4].hex()})')
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(f'{path}: truncated IDX header')
    shape = struct.unpack(f'>{ndim}I', raw[4:offset])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise ValueError(f'{path}: header says shape {shape} ({expected} bytes) but {len(raw) - offset} bytes follow')
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder('='))
