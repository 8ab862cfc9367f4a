import os
import pickle

import numpy as np
import pytest

from mixskd_mm.datasets._safe_pickle import restricted_loads


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_numpy_arrays_and_containers_load(protocol):
    data = {b'data': np.arange(6, dtype=np.uint8).reshape(2, 3), b'fine_labels': [1, 2], 'name': 'x', 'v': 1.5}
    out = restricted_loads(pickle.dumps(data, protocol=protocol))
    assert np.array_equal(out[b'data'], data[b'data']) and out[b'data'].dtype == np.uint8
    assert out[b'fine_labels'] == [1, 2] and out['name'] == 'x'


def test_refuses_os_system(tmp_path):
    marker = tmp_path / 'pwned'
    payload = pickle.dumps({b'data': _Evil(str(marker))}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        restricted_loads(payload)
    assert not marker.exists()


def test_refuses_builtins_eval():
    payload = b'cbuiltins\neval\n(Vprint(1)\ntR.'
    with pytest.raises(pickle.UnpicklingError, match='builtins.eval'):
        restricted_loads(payload)
