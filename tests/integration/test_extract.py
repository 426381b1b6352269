"""What a read of the source leaves allocated (etl.extract against a real PostgreSQL)."""

from __future__ import annotations

import ctypes
import gc
import sys

import pytest

from etl.extract import Source

# About 21 MB of text: more than one of the driver's record batches (16 MiB each).
WIDE_ROWS = "SELECT g AS n, repeat(md5(g::text), 4) AS text FROM generate_series(1, 160000) g"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


def _malloc_in_use() -> int:
    """Bytes the C allocator has handed out and not got back (the driver allocates there)."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    gc.collect()
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads glibc's counters")
def test_a_column_kept_from_a_read_does_not_keep_the_whole_read(fresh_db: str) -> None:
    with Source(fresh_db) as source:
        source.query("warm-up", "SELECT 1 AS one")
        before = _malloc_in_use()
        frame = source.query("wide", WIDE_ROWS)
        assert frame.height == 160_000
        during = _malloc_in_use()
        kept = frame.get_column("n")
        del frame
        after = _malloc_in_use()
    assert (kept.len(), kept.min(), kept.max()) == (160_000, 1, 160_000)
    # The driver's record batches are freed when the read returns (the frame's columns were
    # copied out of them), and a kept column (1.3 MB of integers) does not bring them back.
    assert during - before < 4 * 2**20, f"the read held {(during - before) / 2**20:.1f} MiB of driver memory"
    assert after - before < 4 * 2**20, f"one kept column held {(after - before) / 2**20:.1f} MiB of driver memory"
