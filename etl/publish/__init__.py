"""The publish stage: a complete new store file, written, audited and published atomically.

- `build`: StoreBuild, the new file written table by table, audited, then published.
- `append`: a frame appended to a store table in its lookup key's order (`sort_key`).
- `carry`: a refresh's start from the previous store's rows it keeps.
- `swap`: the durable rename and the symlink swap that publish a finished file.
- `leftovers`: builds abandoned by killed refreshes, removed.

Never computes metrics: it writes the frames it is given.
"""

from __future__ import annotations

from etl.publish.build import PublishResult, StoreBuild, publish

__all__ = ["PublishResult", "StoreBuild", "publish"]
