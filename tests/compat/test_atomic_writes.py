"""MMEngine's local writes (checkpoints, last_checkpoint) are atomic once mixskd_mm is imported."""
import os

import pytest
from mmengine.fileio import get_file_backend

import mixskd_mm  # noqa: F401
from mixskd_mm.utils import atomic_io


def test_put_and_put_text_replace_atomically(tmp_path):
    backend = get_file_backend(str(tmp_path))
    target = tmp_path / 'sub' / 'epoch_1.pth'
    backend.put(b'complete checkpoint', str(target))
    backend.put_text('sub/epoch_1.pth', str(tmp_path / 'last_checkpoint'))
    assert target.read_bytes() == b'complete checkpoint'
    assert (tmp_path / 'last_checkpoint').read_text() == 'sub/epoch_1.pth'
    assert not [p for p in os.listdir(tmp_path / 'sub') if p.startswith('.tmp_')]


def test_a_crash_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / 'latest.pth'
    target.write_bytes(b'old, complete')

    real_fsync = os.fsync

    def crash(fd):  # the new bytes are partly on disk when the process "dies"
        real_fsync(fd)
        raise KeyboardInterrupt('killed while saving')

    monkeypatch.setattr(atomic_io.os, 'fsync', crash)
    with pytest.raises(KeyboardInterrupt):
        get_file_backend(str(tmp_path)).put(b'new' * 1000, str(target))
    assert target.read_bytes() == b'old, complete'
    assert os.listdir(tmp_path) == ['latest.pth']


def test_the_result_is_what_mmengine_own_write_leaves(tmp_path):
    """Same bytes, permission bits and symbolic links as ``open(path, 'wb')``: only a cut-short write differs."""
    from mmengine.fileio.backends.local_backend import LocalBackend

    from mixskd_mm.compat import atomic_writes
    plain, atomic = tmp_path / 'plain', tmp_path / 'atomic'
    for folder in (plain, atomic):
        folder.mkdir()
        (folder / 'kept_mode.pth').write_bytes(b'old')
        (folder / 'kept_mode.pth').chmod(0o640)
        (folder / 'target.pth').write_bytes(b'old')
        (folder / 'link.pth').symlink_to('target.pth')
    own = atomic_writes._ORIGINAL['put']
    for folder, put in ((plain, own), (atomic, LocalBackend.put)):
        for name in ('new.pth', 'kept_mode.pth', 'link.pth'):
            put(LocalBackend(), b'new', str(folder / name))
    for name in ('new.pth', 'kept_mode.pth', 'link.pth', 'target.pth'):
        p, a = plain / name, atomic / name
        assert (a.read_bytes(), a.stat().st_mode, a.is_symlink()) == (p.read_bytes(), p.stat().st_mode, p.is_symlink())
    assert (atomic / 'link.pth').is_symlink() and (atomic / 'target.pth').read_bytes() == b'new'
