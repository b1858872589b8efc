"""retained_heap: inside, a freed large block is reused without new page faults; outside, glibc maps it afresh."""

import resource

import pytest
import torch

from neuralab import heap

pytestmark = pytest.mark.skipif(heap._LIBC is None, reason="glibc only")
MB64 = 64 * 2**20  # over glibc's largest mmap threshold (32 MB): served by mmap unless retained


def faults_of_second_allocation() -> int:
    """Minor page faults of allocating and filling a 64 MB tensor after identical ones were freed (a freed block is a
    little short for the next 64-byte-aligned request until a few neighbours have merged: measured, the heap settles
    after 5 rounds, as a training loop does after its first steps)."""
    for _ in range(8):
        torch.empty(MB64, dtype=torch.uint8).fill_(1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(MB64, dtype=torch.uint8).fill_(2)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_a_freed_block_is_reused_without_page_faults_inside_and_remapped_outside():
    pages = MB64 // resource.getpagesize()
    with heap.retained_heap():
        inside = faults_of_second_allocation()
    outside = faults_of_second_allocation()
    assert inside < pages // 10, f"{inside} page faults for a reused block (of {pages} pages)"
    assert outside > pages // 2, f"outside retained_heap a 64 MB block should be mmapped afresh: {outside} faults"


def test_nested_blocks_restore_only_at_the_outermost_exit():
    with heap.retained_heap():
        with heap.retained_heap():
            assert heap.active()
        assert heap.active()
        assert faults_of_second_allocation() < MB64 // resource.getpagesize() // 10
    assert not heap.active()


def test_restored_after_an_exception():
    with pytest.raises(RuntimeError), heap.retained_heap():
        raise RuntimeError("boom")
    assert not heap.active()
