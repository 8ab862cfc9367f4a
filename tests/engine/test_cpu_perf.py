"""mixskd_mm.engine.cpu_perf: glibc allocator pinning (observed through glibc's own counters) and the bf16 check."""
import subprocess
import sys

import pytest

from mixskd_mm.engine.cpu_perf import native_bf16, set_malloc

# A fresh process: the allocator settings are process-wide. glibc's mallinfo2().hblkhd counts the bytes held in
# mmap'ed chunks; a 64 MiB tensor lands there by default, in the heap once pinned, and a
# 128 MiB one there again after 'default'.
PROBE = '''
import ctypes, torch
from mixskd_mm.engine.cpu_perf import set_malloc
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                'arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost'.split()]
libc = ctypes.CDLL('libc.so.6')
libc.mallinfo2.restype = Info
def mapped_by_new_tensor(mib=64):
    before = libc.mallinfo2().hblkhd
    t = torch.ones(mib * 2**20, dtype=torch.uint8)
    return libc.mallinfo2().hblkhd - before
out = [mapped_by_new_tensor()]
assert set_malloc('pinned')
out.append(mapped_by_new_tensor())
assert set_malloc('default')
out.append(mapped_by_new_tensor(128))  # larger than the free 64 MiB chunk the pinned heap kept
print(*(n // 2**20 for n in out))
'''


def test_pinned_malloc_serves_big_buffers_from_the_heap_and_default_maps_them_again():
    proc = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True, check=True)
    default, pinned, default_again = map(int, proc.stdout.split())
    assert default >= 64 and default_again >= 128, proc.stdout  # fresh mmap per big buffer: glibc's default
    assert pinned == 0, proc.stdout


def test_unknown_malloc_mode_is_refused():
    with pytest.raises(ValueError, match="one of \\('pinned', 'default'\\)"):
        set_malloc('jemalloc')


# /proc/cpuinfo flags of real machines (abridged to the relevant part)
CASCADE_LAKE = 'avx2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni'.split()
ZEN5 = CASCADE_LAKE + ['avx512_bf16']
SAPPHIRE_RAPIDS = CASCADE_LAKE + ['avx512_bf16', 'amx_bf16', 'amx_tile', 'amx_int8']


def test_native_bf16_from_cpu_flags():
    assert native_bf16(ZEN5) == (True, 'native bf16: avx512_bf16')
    assert native_bf16(SAPPHIRE_RAPIDS) == (True, 'native bf16: avx512_bf16, amx_bf16')
    supported, reason = native_bf16(CASCADE_LAKE)
    assert not supported and 'no native bf16' in reason and 'slower than fp32' in reason
    supported, reason = native_bf16([])
    assert not supported and 'could not be read' in reason
