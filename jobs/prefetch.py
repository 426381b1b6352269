"""Run a sequence of calls on one worker thread, a bounded number ahead of the consumer.

A refresh reads the source on the worker while it transforms and writes on the calling
thread: PostgreSQL produces the next chunk while Polars and DuckDB (which release the GIL)
work on the current one. At most `ahead` results wait, so memory stays bounded.
"""

from __future__ import annotations

import ctypes
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def name_os_thread(name: str) -> None:
    """Name the calling thread in the OS (Linux: 15 bytes), as `top -H` and /proc show it.

    Python 3.11 names its threads only for itself; with OS names a profile or the
    benchmark can tell the source reads, the writer and the history lane apart.
    """
    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # 15: PR_SET_NAME
    except (OSError, AttributeError):
        return


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


class Stopped(RuntimeError):
    """Iterating a Prefetch that was stopped (its block was left) before its calls were done."""


class Prefetch(Generic[T]):
    """Iterate to get each call's result in order; a call's exception is raised in its place.

    Use as a context manager: leaving the block stops the worker after its current call
    (a consumer that fails early does not leave a thread using the source connection).
    """

    def __init__(self, calls: Iterable[Callable[[], T]], *, ahead: int = 1, name: str = "prefetch") -> None:
        if ahead < 1:
            raise ValueError(f"ahead must be at least 1, not {ahead}")
        self._calls = iter(calls)
        self._results: queue.Queue[object] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def __enter__(self) -> Prefetch[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # a worker waiting for room sees it within 50 ms
        self._thread.join()

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self._results.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set():  # a consumer on another thread must not wait forever
                    raise Stopped("the reads were stopped") from None
                continue
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]

    def _work(self) -> None:
        name_os_thread(self._thread.name)
        try:
            for call in self._calls:
                if self._stop.is_set():
                    return
                result: object = call()
                if not self._put(result):
                    return
        except BaseException as exc:  # handed to the consumer, raised where it iterates
            self._put(_Failed(exc))
            return
        self._put(_DONE)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._results.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False
