"""A small HTTP/1.1 load generator over loopback: closed loop (N clients) and open loop (fixed rate).

Raw asyncio streams with keep-alive, so the generator costs far less CPU than the server
it measures (both share this machine's cores). Bounded in requests and time.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
        }


class _Conn:
    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def build_request(host: str, path: str, token: str | None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _summary(latencies: list[float], errors: int, seconds: float) -> LoadResult:
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return LoadResult(len(latencies), errors, seconds, statistics.median(ordered) * 1000, p99 * 1000)


async def _closed(host: str, port: int, request: bytes, clients: int, seconds: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        conn = _Conn(host, port, request)
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                status = await conn.call()
                latencies.append(time.perf_counter() - t0)
                errors += status != 200
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return _summary(latencies, errors, time.perf_counter() - started)


async def _open(host: str, port: int, request: bytes, rate: float, seconds: float, pool: int) -> LoadResult:
    """Requests start on a fixed schedule; latency counts from the scheduled start (no coordinated omission)."""
    latencies: list[float] = []
    errors = 0
    idle: asyncio.Queue[_Conn] = asyncio.Queue()
    for _ in range(pool):
        idle.put_nowait(_Conn(host, port, request))
    total = int(rate * seconds)
    started = time.perf_counter()

    async def one(scheduled: float) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            status = await conn.call()
            errors += status != 200
        except OSError:
            errors += 1
            conn.close()
            conn = _Conn(host, port, request)
        latencies.append(time.perf_counter() - scheduled)
        idle.put_nowait(conn)

    tasks = []
    for i in range(total):
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().close()
    return _summary(latencies, errors, time.perf_counter() - started)


def closed_loop(host: str, port: int, path: str, token: str | None, *, clients: int, seconds: float) -> LoadResult:
    return asyncio.run(_closed(host, port, build_request(host, path, token), clients, seconds))


def open_loop(host: str, port: int, path: str, token: str | None, *, rate: float, seconds: float) -> LoadResult:
    return asyncio.run(_open(host, port, build_request(host, path, token), rate, seconds, pool=64))
