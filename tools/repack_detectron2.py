"""Repack Detectron2 from the package registry as a pure-Python wheel that installs on Python >= 3.8 with numpy 2.

    python tools/repack_detectron2.py --out DIR [--wheel sal_detectron2-0.7.2-cp310-none-any.whl]
    python tools/repack_detectron2.py --print-name    # the repacked wheel's file name

Detectron2 has no official wheel on the registry. ``sal-detectron2==0.7.2`` is upstream Detectron2 (commit a59f0563)
with a compiled ``detectron2/_C`` built for Python 3.10 and CUDA 12, a top-level ``tools/`` package and metadata that
pins ``numpy<2``. This script downloads it (or takes ``--wheel``), checks its sha256 against :data:`SHA256`, and
writes ``DIR/sal_detectron2-0.7.2+purepy-py3-none-any.whl``:

- ``detectron2/_C*`` dropped (Detectron2 imports it lazily; without it there are no rotated-box ops or deformable
  convolutions, and COCO evaluation uses pycocotools: same numbers, slower);
- the top-level ``tools/`` package dropped (it would shadow a project's own ``tools``);
- upstream's numpy-2 fix (commit 70f45430): ``np.array(x, copy=False)`` -> ``np.asarray(x)`` in
  ``evaluation/sem_seg_evaluation.py`` and ``layers/mask_ops.py``;
- metadata: tag ``py3-none-any``, purelib, ``numpy`` without the ``<2`` pin, the undeclared ``fvcore`` and
  ``iopath`` added, ``tensorboard`` and ``black`` (only for TensorBoard event files and ``LazyConfig.save``'s
  formatting) moved to the ``all`` extra.

The output is byte-for-byte the same on every run (fixed zip dates), so a cached copy can be compared by its hash.
Standard library only: it runs before anything else is installed.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

VERSION = '0.7.2'
#: sha256 of sal_detectron2-0.7.2-cp310-none-any.whl as the registry served it on 2026-12-07
SHA256 = '491af0c7f79bdb2d178e46f6cb16a97c4ac968d45c41ea3f6b6435d59bbee561'
SOURCE_NAME = f'sal_detectron2-{VERSION}-cp310-none-any.whl'
#: the version the repacked wheel carries: a local label, so ``sal-detectron2==0.7.2`` still matches it
OUT_VERSION = f'{VERSION}+purepy'
OUT_NAME = f'sal_detectron2-{OUT_VERSION}-py3-none-any.whl'
SRC_INFO = f'sal_detectron2-{VERSION}.dist-info/'
OUT_INFO = f'sal_detectron2-{OUT_VERSION}.dist-info/'
#: file -> (old text, new text): upstream's numpy-2 fix (np.array(..., copy=False) raises under numpy 2)
PATCHES = {
    'detectron2/evaluation/sem_seg_evaluation.py': (
        'array = np.array(Image.open(f), copy=copy, dtype=dtype)',
        'array = np.array(Image.open(f), dtype=dtype) if copy else np.asarray(Image.open(f), dtype=dtype)'),
    'detectron2/layers/mask_ops.py': ('mask = np.array(mask, copy=False)', 'mask = np.asarray(mask)'),
}
#: Requires-Dist lines replaced (None: moved to the ``all`` extra) and added
REQUIRES_REPLACED = {'numpy<2': 'numpy', 'tensorboard': None, 'black': None}
REQUIRES_ADDED = ('fvcore>=0.1.5', 'iopath>=0.1.7')
ZIP_DATE = (2024, 4, 17, 0, 0, 0)


def sha256_of(path: str) -> str:
    """The hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def download(dest: str) -> str:
    """``pip download`` the source wheel into ``dest`` (it is tagged for Python 3.10, hence the platform options).

    Raises:
        RuntimeError: pip failed (no registry, or the release was withdrawn), with pip's message.
    """
    cmd = [sys.executable, '-m', 'pip', 'download', '--disable-pip-version-check', '-q', '--no-deps',
           '--only-binary', ':all:', '--python-version', '3.10', '--platform', 'linux_x86_64',
           f'sal-detectron2=={VERSION}', '-d', dest]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    path = os.path.join(dest, SOURCE_NAME)
    if proc.returncode or not os.path.exists(path):
        raise RuntimeError(f'could not download sal-detectron2=={VERSION} from the package registry:\n{proc.stderr}'
                           f'\nDownload {SOURCE_NAME} elsewhere and pass it with --wheel, or install Detectron2 '
                           'from its repository (README, Detectron2).')
    return path


def check_source(path: str) -> None:
    """Refuse a source wheel whose sha256 is not :data:`SHA256` (a changed or corrupted upload)."""
    got = sha256_of(path)
    if got != SHA256:
        raise RuntimeError(f'{path} has sha256 {got}, expected {SHA256} (sal-detectron2 {VERSION} as checked '
                           'when this script was written). The file changed: do not install it; check the release.')


def _metadata(text: str) -> str:
    """The source METADATA with the version, the numpy pin and the requirements corrected."""
    out, moved = [], []
    for line in text.splitlines():
        if line.startswith('Version: '):
            line = f'Version: {OUT_VERSION}'
        elif line.startswith('Requires-Dist: ') and line[15:] in REQUIRES_REPLACED:
            new = REQUIRES_REPLACED[line[15:]]
            if new is None:
                moved.append(line[15:])
                continue
            line = f'Requires-Dist: {new}'
        elif line.startswith('Provides-Extra: all'):
            out.extend(f'Requires-Dist: {req}' for req in REQUIRES_ADDED)
        out.append(line)
    out.extend(f'Requires-Dist: {req}; extra == "all"' for req in moved)
    missing = [r for r in REQUIRES_ADDED if f'Requires-Dist: {r}' not in out]
    if missing or any(f'Requires-Dist: {r}' in out for r in REQUIRES_REPLACED):
        raise RuntimeError(f'METADATA of {SOURCE_NAME} is not the one this script knows: {missing}')
    return '\n'.join(out) + '\n'


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    return f'{name},sha256={digest},{len(data)}'


def _wheel_file() -> bytes:
    return (b'Wheel-Version: 1.0\nGenerator: mixskd_mm tools/repack_detectron2.py\nRoot-Is-Purelib: true\n'
            b'Tag: py3-none-any\n\n')


def repacked_files(source: str) -> dict[str, bytes]:
    """The files of the repacked wheel, by archive name, RECORD last.

    Raises:
        RuntimeError: a file to patch no longer holds the text it patches.
    """
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(source) as z:
        for name in sorted(z.namelist()):
            if name.startswith(('detectron2/_C', 'tools/')) or name.endswith('/'):
                continue
            data = z.read(name)
            if name in PATCHES:
                old, new = PATCHES[name]
                if old.encode() not in data:
                    raise RuntimeError(f'{name} in {SOURCE_NAME} has no {old!r} to patch')
                data = data.replace(old.encode(), new.encode())
            if name.startswith(SRC_INFO):
                base = name[len(SRC_INFO):]
                if base in ('RECORD', 'WHEEL', 'top_level.txt'):
                    continue
                if base == 'METADATA':
                    data = _metadata(data.decode()).encode()
                name = OUT_INFO + base
            files[name] = data
    files[OUT_INFO + 'WHEEL'] = _wheel_file()
    files[OUT_INFO + 'top_level.txt'] = b'detectron2\n'
    record = [_record_line(n, d) for n, d in files.items()] + [OUT_INFO + 'RECORD,,']
    files[OUT_INFO + 'RECORD'] = ('\n'.join(record) + '\n').encode()
    return files


def repack(source: str, out_dir: str) -> str:
    """Write the repacked wheel of ``source`` (already checked) into ``out_dir``; returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, OUT_NAME)
    tmp = out + '.part'
    with zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in repacked_files(source).items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Download (or take ``--wheel``), check, repack; print the repacked wheel's path."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', help='folder to write the repacked wheel to')
    p.add_argument('--print-name', action='store_true', help='print the repacked wheel\'s file name and stop')
    p.add_argument('--wheel', help=f'a downloaded {SOURCE_NAME} (default: download it with pip)')
    args = p.parse_args(argv)
    if args.print_name:
        print(OUT_NAME)
        return 0
    if not args.out:
        p.error('--out DIR is required')
    try:
        if args.wheel:
            source = args.wheel
            check_source(source)
            print(repack(source, args.out))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                source = download(tmp)
                check_source(source)
                print(repack(source, args.out))
    except (RuntimeError, OSError, zipfile.BadZipFile) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
