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
