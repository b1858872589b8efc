"""retained_heap: inside, a freed large block is reused without new page faults; outside, glibc maps it afresh.

The fault counts are measured in a fresh interpreter: what glibc does with a large block depends on everything the
process allocated before (a long test session can leave the heap in any state)."""

import json
import resource
import subprocess
import sys

import pytest
import torch

from neuralab import heap

pytestmark = pytest.mark.skipif(heap._LIBC is None, reason="glibc only")
MB64 = 64 * 2**20  # over glibc's largest mmap threshold (32 MB): served by mmap unless retained
MB60 = 60 * 2**20
PAGES = MB60 // resource.getpagesize()


@pytest.fixture(autouse=True)
def _switched_on(monkeypatch):
    monkeypatch.delenv("NEURALAB_RETAIN_HEAP", raising=False)

PROBE = f"""
import json, resource, torch
from neuralab import heap

def faults():
    \"\"\"Page faults of filling a 60 MB tensor allocated right after a 64 MB one was freed (a smaller block: an
    identical one can be a few bytes short of the next 64-byte-aligned request until neighbours merge).\"\"\"
    torch.empty({MB64}, dtype=torch.uint8).fill_(1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty({MB60}, dtype=torch.uint8).fill_(2)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

def resident():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()

before = faults()
with heap.retained_heap():
    inside = faults()
    kept = resident()  # the freed blocks stay resident for the next step
print(json.dumps({{"before": before, "inside": inside, "returned": kept - resident()}}))
"""


def test_a_freed_block_is_reused_without_page_faults_inside_and_its_pages_are_returned_after():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] > PAGES // 2, f"glibc's default should map a 64 MB block afresh: {seen}"
    assert seen["inside"] < PAGES // 10, f"a reused block should not fault its pages in again: {seen}"
    assert seen["returned"] > MB60 // 2, f"leaving the block should hand the free pages back: {seen}"


def test_nested_blocks_restore_only_at_the_outermost_exit():
    with heap.retained_heap():
        with heap.retained_heap():
            assert heap.active()
        assert heap.active()
    assert not heap.active()


def test_restored_after_an_exception():
    with pytest.raises(RuntimeError), heap.retained_heap():
        raise RuntimeError("boom")
    assert not heap.active()


def test_off_with_the_environment_switch(monkeypatch):
    monkeypatch.setenv("NEURALAB_RETAIN_HEAP", "0")
    with heap.retained_heap():
        assert not heap.active()
    torch.empty(1)  # (torch imported for the probe's sake; keeps the import used)
